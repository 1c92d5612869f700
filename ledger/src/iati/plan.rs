//! What an IATI activity becomes on the ledger: the project's details and
//! its transactions, or the reason it cannot be imported ([`plan`], a pure
//! function of the activity), and what the ledger holds of a project
//! ([`existing`], read from the store) so that an import writes only the
//! [`difference`].

use std::collections::BTreeMap;

use tansiq_proto::v1 as pb;

use super::activity::{Activity, Texts};
use crate::event::codes;
use crate::event::codes::ActivityStatus;
use crate::limits::{NAME_BYTES_MAX, TEXT_FIELD_BYTES_MAX};

/// Gazetteer codes to P-codes: (vocabulary, code) → P-code; a vocabulary of
/// "" matches any vocabulary.
#[derive(Clone, Debug, Default)]
pub struct PcodeMap {
    entries: BTreeMap<(String, String), String>,
}

impl PcodeMap {
    /// Reads CSV lines `vocabulary,code,pcode` (a header line starting with
    /// "vocabulary" and `#` comments are skipped).
    pub fn parse(text: &str) -> Result<PcodeMap, String> {
        let mut entries = BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with("vocabulary") {
                continue;
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let [vocabulary, code, pcode] = fields[..] else {
                return Err(format!(
                    "line {}: expected vocabulary,code,pcode, got {line:?}",
                    index + 1
                ));
            };
            if !looks_like_pcode(pcode) {
                return Err(format!("line {}: {pcode:?} is not a P-code", index + 1));
            }
            entries.insert((vocabulary.to_owned(), code.to_owned()), pcode.to_owned());
        }
        Ok(PcodeMap { entries })
    }

    fn get(&self, vocabulary: &str, code: &str) -> Option<&String> {
        self.entries
            .get(&(vocabulary.to_owned(), code.to_owned()))
            .or_else(|| self.entries.get(&(String::new(), code.to_owned())))
    }
}

/// Two capital letters of a known country, then capitals or digits.
fn looks_like_pcode(code: &str) -> bool {
    let bytes = code.as_bytes();
    (2..=20).contains(&bytes.len())
        && bytes[..2].iter().all(u8::is_ascii_uppercase)
        && bytes[2..]
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        && codes::COUNTRY.get(&code[..2]).is_some()
}

/// An activity's events-to-be.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The activity's IATI identifier.
    pub identifier: String,
    /// The project's ledger id (see [`project_id`]).
    pub project_id: String,
    /// The project's details.
    pub details: pb::ProjectDetails,
    /// The activity's transactions.
    pub transactions: Vec<pb::TransactionRecorded>,
    /// The activity's results, one per indicator.
    pub results: Vec<pb::ResultReported>,
    /// Parts of the activity not carried over, and why.
    pub notes: Vec<String>,
    /// Located only by country (no administrative code with a P-code).
    pub country_level: bool,
}

/// Why an activity is not imported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skip {
    /// A short, stable code (e.g. `no_title`).
    pub reason: &'static str,
    /// What a person reads.
    pub detail: String,
}

fn skip(reason: &'static str, detail: impl Into<String>) -> Skip {
    Skip {
        reason,
        detail: detail.into(),
    }
}

/// A ledger project id from an IATI identifier: lowercase, other characters
/// than letters, digits, '-', '_' and '.' become '-', at most 128.
pub fn project_id(identifier: &str) -> String {
    let mut id: String = identifier
        .trim()
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    id.truncate(128);
    id
}

/// A name (title, organisation): cut to the ledger's name limit.
/// A name is one line: the line breaks and indentation of the XML that
/// held it become single spaces.
fn names(texts: &Texts) -> Option<pb::Names> {
    let one_line = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    (!texts.is_empty()).then(|| pb::Names {
        latin: clip_to(&one_line(&texts.latin), NAME_BYTES_MAX),
        arabic: clip_to(&one_line(&texts.arabic), NAME_BYTES_MAX),
    })
}

/// A longer text (description): cut to the ledger's text limit, its line
/// breaks as line feeds (a carriage return is a control character the
/// ledger refuses).
fn texts(texts: &Texts) -> Option<pb::Names> {
    (!texts.is_empty()).then(|| pb::Names {
        latin: clip(&texts.latin),
        arabic: clip(&texts.arabic),
    })
}

fn line_feeds(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// A longer text cut to the ledger's text limit, line breaks as line feeds.
fn clip(text: &str) -> String {
    clip_to(&line_feeds(text), TEXT_FIELD_BYTES_MAX)
}

/// Cuts a text to `max` bytes, at a character boundary.
fn clip_to(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

fn whole_percentage(value: Option<f64>) -> u32 {
    value.map_or(0, |p| p.round().clamp(0.0, 100.0) as u32)
}

fn is_amount(value: &str) -> bool {
    let mut parts = value.splitn(2, '.');
    let whole = parts.next().unwrap_or_default();
    let fraction = parts.next().unwrap_or("0");
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

/// Sum of decimal strings with up to 2 decimals, as a decimal string; None
/// if one is not a non-negative amount.
fn sum(values: &[&str]) -> Option<String> {
    let mut cents: i128 = 0;
    for value in values {
        let negative = value.starts_with('-');
        let digits = value.trim_start_matches('-');
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let fraction: String = fraction.chars().chain("00".chars()).take(2).collect();
        if !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let amount: i128 = format!("{whole}{fraction}").parse().ok()?;
        cents += if negative { -amount } else { amount };
    }
    if cents < 0 {
        return None;
    }
    Some(if cents % 100 == 0 {
        (cents / 100).to_string()
    } else {
        format!("{}.{:02}", cents / 100, cents % 100)
    })
}

/// The plan for `activity`, reported by `reporting_org` (the importer's
/// organisation), with `map` for gazetteer codes.
pub fn plan(activity: &Activity, map: &PcodeMap) -> Result<Plan, Skip> {
    let mut notes = Vec::new();
    if activity.identifier.is_empty() {
        return Err(skip("no_identifier", "the activity has no iati-identifier"));
    }
    // A file exported from a Tansiq ledger names the project's ledger id.
    let project_id = if crate::ids::is_slug(&activity.ledger_project_id, 2, 128) {
        activity.ledger_project_id.clone()
    } else {
        project_id(&activity.identifier)
    };
    if project_id.len() < 2 {
        return Err(skip(
            "no_identifier",
            format!("iati-identifier {:?} is too short", activity.identifier),
        ));
    }
    let Some(title) = names(&activity.title) else {
        return Err(skip("no_title", "the activity has no title"));
    };

    // Sectors: vocabulary 1 (DAC 5-digit) and 2 (DAC 3-digit category)
    // count for coverage; a category counts for queries by category.
    let mut sectors = Vec::new();
    for sector in &activity.sectors {
        match sector.vocabulary.as_str() {
            "1" if codes::SECTOR.get(&sector.code).is_some() => sectors.push(pb::ProjectSector {
                code: sector.code.clone(),
                percentage: whole_percentage(sector.percentage),
            }),
            "1" => notes.push(format!(
                "sector {} is not a DAC 5-digit purpose code",
                sector.code
            )),
            "2" if codes::SECTOR_CATEGORY.get(&sector.code).is_some() => {
                sectors.push(pb::ProjectSector {
                    code: sector.code.clone(),
                    percentage: whole_percentage(sector.percentage),
                })
            }
            "2" => notes.push(format!(
                "sector {} is not a DAC 3-digit category",
                sector.code
            )),
            other => notes.push(format!(
                "sector {} of vocabulary {other} is not used for coverage",
                sector.code
            )),
        }
    }

    // Locations: administrative codes that are (or map to) P-codes.
    let mut pcodes: Vec<(String, u32)> = Vec::new();
    for location in &activity.locations {
        for admin in &location.administrative {
            let pcode = map
                .get(&admin.vocabulary, &admin.code)
                .cloned()
                .or_else(|| looks_like_pcode(&admin.code).then(|| admin.code.clone()));
            match pcode {
                Some(pcode) if !pcodes.iter().any(|(p, _)| *p == pcode) => {
                    pcodes.push((pcode, admin.percentage.unwrap_or(0).min(100)))
                }
                Some(_) => {}
                None => notes.push(format!(
                    "location code {} (vocabulary {}) has no P-code; pass a mapping with --pcode-map",
                    admin.code,
                    if admin.vocabulary.is_empty() { "?" } else { &admin.vocabulary }
                )),
            }
        }
    }
    let country_level = pcodes.is_empty();
    let locations: Vec<pb::ProjectLocation> = if country_level {
        activity
            .countries
            .iter()
            .filter(|(code, _)| codes::COUNTRY.get(code).is_some())
            .map(|(code, percentage)| pb::ProjectLocation {
                pcode: code.clone(),
                percentage: whole_percentage(*percentage),
            })
            .collect()
    } else {
        pcodes
            .into_iter()
            .map(|(pcode, percentage)| pb::ProjectLocation { pcode, percentage })
            .collect()
    };
    if locations.is_empty() {
        return Err(skip(
            "no_location",
            "neither an administrative code with a P-code nor a recipient-country",
        ));
    }

    let status = match activity.status {
        Some(code) if codes::ACTIVITY_STATUS.get(&code.to_string()).is_some() => code,
        Some(code) => {
            return Err(skip(
                "bad_status",
                format!("activity-status {code} is not an IATI ActivityStatus"),
            ))
        }
        None => {
            notes.push("no activity-status: registered as 1 (pipeline)".into());
            1
        }
    };

    // Budget: per period the revised budget replaces the original.
    let mut periods: BTreeMap<(String, String), (u32, &str, &str)> = BTreeMap::new();
    for budget in &activity.budgets {
        let key = (budget.period_start.clone(), budget.period_end.clone());
        let replace = periods
            .get(&key)
            .is_none_or(|(kind, _, _)| budget.budget_type >= *kind);
        if replace {
            periods.insert(
                key,
                (
                    budget.budget_type,
                    budget.value.value.as_str(),
                    budget.value.currency.as_str(),
                ),
            );
        }
    }
    let budget = if periods.is_empty() {
        None
    } else {
        let currencies: Vec<&str> = periods.values().map(|(_, _, c)| *c).collect();
        let currency = currencies[0];
        let values: Vec<&str> = periods.values().map(|(_, v, _)| *v).collect();
        if currencies.iter().any(|c| *c != currency) {
            notes.push("budgets in several currencies: no total budget recorded".into());
            None
        } else if codes::CURRENCY.get(currency).is_none() {
            notes.push(format!(
                "budget currency {currency:?} is not an ISO 4217 code: no budget recorded"
            ));
            None
        } else {
            match sum(&values) {
                Some(value) => Some(pb::Money {
                    value,
                    currency: currency.to_owned(),
                }),
                None => {
                    notes.push(
                        "budget total is negative or not a number: no budget recorded".into(),
                    );
                    None
                }
            }
        }
    };

    let participants = activity
        .participants
        .iter()
        .filter(|org| (1..=4).contains(&org.role) && !org.implied)
        .filter(|org| {
            !org.reference.is_empty() || !org.name.is_empty() || !org.ledger_org_id.is_empty()
        })
        .map(|org| pb::ParticipatingOrg {
            org_id: org.ledger_org_id.clone(),
            iati_identifier: org.reference.clone(),
            name: names(&org.name),
            role: org.role,
        })
        .collect();

    let details = pb::ProjectDetails {
        iati_identifier: activity.identifier.clone(),
        title: Some(title),
        description: texts(&activity.description),
        participants,
        locations,
        sectors,
        status,
        planned_start: activity.planned_start.clone(),
        planned_end: activity.planned_end.clone(),
        actual_start: activity.actual_start.clone(),
        actual_end: activity.actual_end.clone(),
        budget,
    };

    let mut transactions = Vec::new();
    for transaction in &activity.transactions {
        let value = &transaction.value;
        let date = if transaction.date.is_empty() {
            value.value_date.clone()
        } else {
            transaction.date.clone()
        };
        let label = format!(
            "transaction of type {} on {}",
            transaction.transaction_type,
            if date.is_empty() { "?" } else { &date }
        );
        if codes::TRANSACTION_TYPE
            .get(&transaction.transaction_type.to_string())
            .is_none()
        {
            notes.push(format!("{label}: not an IATI transaction type, left out"));
        } else if date.is_empty() {
            notes.push(format!("{label}: no date, left out"));
        } else if !is_amount(&value.value) {
            notes.push(format!(
                "{label}: value {:?} is negative or not a number, left out",
                value.value
            ));
        } else if codes::CURRENCY.get(&value.currency).is_none() {
            notes.push(format!(
                "{label}: currency {:?} unknown, left out",
                value.currency
            ));
        } else {
            transactions.push(pb::TransactionRecorded {
                project_id: project_id.clone(),
                transaction_type: transaction.transaction_type,
                date,
                value: Some(pb::Money {
                    value: value.value.clone(),
                    currency: value.currency.clone(),
                }),
                provider_activity_id: transaction.provider_activity_id.clone(),
                description: clip(if transaction.description.latin.is_empty() {
                    &transaction.description.arabic
                } else {
                    &transaction.description.latin
                }),
                receiver_org_id: transaction.receiver_org_id.clone(),
            });
        }
    }

    let results = activity
        .results
        .iter()
        .filter_map(|indicator| result(&project_id, indicator, &mut notes))
        .collect();
    for attestation in &activity.attestations {
        notes.push(format!(
            "attestation on the ledger the file comes from: {} said {} of {}{} (signed there by its author; not carried over)",
            attestation.attester,
            attestation.verdict,
            attestation.subject,
            if attestation.note.is_empty() {
                String::new()
            } else {
                format!(": {}", attestation.note)
            }
        ));
    }

    Ok(Plan {
        identifier: activity.identifier.clone(),
        project_id,
        details,
        transactions,
        results,
        notes,
        country_level,
    })
}

/// One indicator of an IATI result as a Tansiq result; None (with a note)
/// when the ledger could not take it. Values the ledger would refuse are
/// left out with a note, so that one bad figure does not keep the activity
/// off the ledger.
fn result(
    project_id: &str,
    read: &crate::iati::activity::ResultIndicator,
    notes: &mut Vec<String>,
) -> Option<pb::ResultReported> {
    let result_id = if crate::ids::is_slug(&read.ledger_result_id, 2, 128) {
        read.ledger_result_id.clone()
    } else if read.indicator_index <= 1 {
        format!("result-{}", read.result_index)
    } else {
        format!("result-{}-{}", read.result_index, read.indicator_index)
    };
    let label = format!("result {result_id} of project {project_id}");
    let result_type = match read.result_type {
        1 => pb::ResultType::Output,
        2 => pb::ResultType::Outcome,
        3 => pb::ResultType::Impact,
        9 => pb::ResultType::Other,
        other => {
            notes.push(format!(
                "{label}: result type {other} is not IATI's 1, 2, 3 or 9; left out"
            ));
            return None;
        }
    };
    let measure = match pb::IndicatorMeasure::try_from(read.measure as i32) {
        Ok(measure) if measure != pb::IndicatorMeasure::Unspecified => measure,
        _ => {
            notes.push(format!(
                "{label}: indicator measure {} is not IATI's 1-5; left out",
                read.measure
            ));
            return None;
        }
    };
    let value = |what: &str,
                 read: &Option<crate::iati::activity::IndicatorValue>,
                 notes: &mut Vec<String>| {
        let read = read.as_ref()?;
        let mut kept = read.value.trim().to_owned();
        let usable = match measure {
            pb::IndicatorMeasure::Qualitative => false,
            _ => {
                crate::event::fields::is_decimal_amount(&kept)
                    && !(measure == pb::IndicatorMeasure::Percentage
                        && crate::event::fields::decimal_over(&kept, 100))
            }
        };
        if !usable {
            if !kept.is_empty() && measure != pb::IndicatorMeasure::Qualitative {
                notes.push(format!("{label}: {what} value {kept:?} is not one the indicator's measure allows; left out"));
            }
            kept.clear();
        }
        Some(pb::IndicatorValue {
            value: kept,
            comment: clip(if read.comment.latin.is_empty() {
                &read.comment.arabic
            } else {
                &read.comment.latin
            }),
            measure: 0,
        })
    };
    let mut periods = Vec::new();
    let mut starts = std::collections::BTreeSet::new();
    for period in &read.periods {
        let dated =
            crate::date::Date::parse(&period.start).zip(crate::date::Date::parse(&period.end));
        match dated {
            Some((start, end)) if start <= end && starts.insert(period.start.clone()) => {
                periods.push(pb::IndicatorPeriod {
                    start: period.start.clone(),
                    end: period.end.clone(),
                    target: value("target", &period.target, notes),
                    actual: value("actual", &period.actual, notes),
                });
            }
            _ => notes.push(format!(
                "{label}: a period from {:?} to {:?} is not a period the ledger takes (both dates, the end not before the start, one period per start); left out",
                period.start, period.end
            )),
        }
    }
    let title = names(&read.result_title).or_else(|| names(&read.title))?;
    Some(pb::ResultReported {
        project_id: project_id.to_owned(),
        result_id,
        result_type: result_type as i32,
        title: Some(title.clone()),
        indicator: Some(pb::Indicator {
            title: names(&read.title).or(Some(title)),
            measure: measure as i32,
            ascending: read.ascending,
            vocabulary: clip_to(&read.vocabulary, NAME_BYTES_MAX),
            code: clip_to(&read.code, NAME_BYTES_MAX),
            baseline: value("baseline", &read.baseline, notes),
            baseline_year: read.baseline_year,
            periods,
            pcode: String::new(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iati::activity::{AdministrativeCode, Amount, Budget, Location, Sector};

    fn activity() -> Activity {
        Activity {
            identifier: "XM-DAC-41114-LBY 1".into(),
            title: Texts {
                latin: "Water".into(),
                arabic: String::new(),
            },
            status: Some(2),
            countries: vec![("LY".into(), Some(100.0))],
            sectors: vec![Sector {
                vocabulary: "1".into(),
                code: "14030".into(),
                percentage: Some(100.0),
            }],
            ..Activity::default()
        }
    }

    #[test]
    fn identifiers_become_project_ids() {
        assert_eq!(project_id("XM-DAC-41114-LBY 1"), "xm-dac-41114-lby-1");
        assert_eq!(project_id("GB-1-109616/101"), "gb-1-109616-101");
    }

    #[test]
    fn country_only_activities_stay_at_country_level() {
        let plan = plan(&activity(), &PcodeMap::default()).expect("plan");
        assert!(plan.country_level);
        assert_eq!(plan.details.locations[0].pcode, "LY");
    }

    #[test]
    fn gazetteer_codes_map_to_pcodes_and_others_are_noted() {
        let mut a = activity();
        a.locations = vec![Location {
            administrative: vec![
                AdministrativeCode {
                    vocabulary: "A1".into(),
                    level: Some(2),
                    code: "12345".into(),
                    percentage: None,
                },
                AdministrativeCode {
                    vocabulary: "A1".into(),
                    level: Some(2),
                    code: "99999".into(),
                    percentage: None,
                },
            ],
            ..Location::default()
        }];
        let map = PcodeMap::parse("vocabulary,code,pcode\nA1,12345,LY0305\n").expect("map");
        let plan = plan(&a, &map).expect("plan");
        assert!(!plan.country_level);
        assert_eq!(plan.details.locations.len(), 1);
        assert_eq!(plan.details.locations[0].pcode, "LY0305");
        assert!(
            plan.notes.iter().any(|n| n.contains("99999")),
            "{:?}",
            plan.notes
        );
    }

    #[test]
    fn revised_budgets_replace_originals_per_period() {
        let mut a = activity();
        let budget = |kind: u32, start: &str, value: &str| Budget {
            budget_type: kind,
            period_start: start.into(),
            period_end: format!("{}-12-31", &start[..4]),
            value: Amount {
                value: value.into(),
                currency: "GBP".into(),
                value_date: String::new(),
            },
        };
        a.budgets = vec![
            budget(1, "2020-01-01", "1000"),
            budget(2, "2020-01-01", "800.5"),
            budget(1, "2021-01-01", "200"),
        ];
        let plan = plan(&a, &PcodeMap::default()).expect("plan");
        let budget = plan.details.budget.expect("a budget");
        assert_eq!(
            (budget.value.as_str(), budget.currency.as_str()),
            ("1000.50", "GBP")
        );
    }

    #[test]
    fn what_cannot_be_imported_says_why() {
        let mut a = activity();
        a.countries.clear();
        assert_eq!(
            plan(&a, &PcodeMap::default()).unwrap_err().reason,
            "no_location"
        );
        let mut a = activity();
        a.title = Texts::default();
        assert_eq!(
            plan(&a, &PcodeMap::default()).unwrap_err().reason,
            "no_title"
        );
    }
}

/// What the ledger already holds for a project.
#[derive(Clone, Debug, Default)]
pub struct Existing {
    /// The organisation that registered it.
    pub owner: String,
    /// Its latest details (`None` when its events carry none).
    pub details: Option<pb::ProjectDetails>,
    /// Its recorded transactions, in log order.
    pub transactions: Vec<pb::TransactionRecorded>,
    /// Its results as last reported: result id → the body that reported it.
    pub results: std::collections::BTreeMap<String, pb::ResultReported>,
    /// Closed or cancelled.
    pub closed: bool,
}

/// Reads a project's current details, transactions and closure from its
/// events in `store` (None: no such project).
pub fn existing(
    store: &crate::store::Store,
    chain: &crate::signing::ChainId,
    project_id: &str,
) -> Result<Option<Existing>, crate::store::StoreError> {
    use crate::event::{Event, Kind};
    use crate::store::StoreError;
    if store.project(project_id)?.is_none() {
        return Ok(None);
    }
    let mut found = Existing::default();
    for (_, event_id) in store.project_events(project_id)? {
        let Some((_, envelope)) = store.event(&event_id)? else {
            continue;
        };
        let event = Event::decode(chain, envelope).map_err(|rejection| {
            StoreError::Corrupt(format!("stored event {event_id}: {rejection}"))
        })?;
        match event.kind {
            Kind::ProjectRegistered(registered) => {
                found.owner = event.author.to_string();
                found.details = registered.details;
            }
            Kind::ProjectUpdated(updated) => found.details = updated.details,
            Kind::TransactionRecorded(transaction) => found.transactions.push(transaction),
            Kind::ResultReported(reported) => {
                found.results.insert(reported.result_id.clone(), reported);
            }
            Kind::ResultUpdated(updated) => {
                found.results.insert(
                    updated.result_id.clone(),
                    pb::ResultReported {
                        project_id: updated.project_id,
                        result_id: updated.result_id,
                        result_type: updated.result_type,
                        title: updated.title,
                        indicator: updated.indicator,
                    },
                );
            }
            Kind::ProjectClosed(_) => found.closed = true,
            Kind::ProjectStatusChanged(change) => {
                found.closed |= ActivityStatus(change.status).ends_the_project();
            }
            _ => {}
        }
    }
    Ok(Some(found))
}

/// The events that bring the ledger from `existing` to `plan`: a
/// registration or an update when the details differ, the transactions not
/// yet recorded (compared as a multiset), and a closure for a finished
/// activity. Empty when the ledger is up to date.
pub fn difference(plan: &Plan, existing: Option<Existing>) -> Vec<pb::event_body::Kind> {
    use pb::event_body::Kind;
    let mut kinds = Vec::new();
    let closed = existing.as_ref().is_some_and(|e| e.closed);
    let reported = existing
        .as_ref()
        .map(|e| e.results.clone())
        .unwrap_or_default();
    let mut recorded = match existing {
        None => {
            kinds.push(Kind::ProjectRegistered(pb::ProjectRegistered {
                project_id: plan.project_id.clone(),
                details: Some(plan.details.clone()),
            }));
            Vec::new()
        }
        Some(existing) => {
            if existing.details.as_ref() != Some(&plan.details) {
                kinds.push(Kind::ProjectUpdated(pb::ProjectUpdated {
                    project_id: plan.project_id.clone(),
                    details: Some(plan.details.clone()),
                }));
            }
            existing.transactions
        }
    };
    for transaction in &plan.transactions {
        match recorded.iter().position(|have| have == transaction) {
            Some(index) => {
                recorded.swap_remove(index);
            }
            None => kinds.push(Kind::TransactionRecorded(transaction.clone())),
        }
    }
    for result in &plan.results {
        match reported.get(&result.result_id) {
            None => kinds.push(Kind::ResultReported(result.clone())),
            Some(have) if have != result => kinds.push(Kind::ResultUpdated(pb::ResultUpdated {
                project_id: result.project_id.clone(),
                result_id: result.result_id.clone(),
                result_type: result.result_type,
                title: result.title.clone(),
                indicator: result.indicator.clone(),
            })),
            Some(_) => {}
        }
    }
    let details = &plan.details;
    let status = ActivityStatus(details.status);
    if status.ends_the_project() && !closed {
        kinds.push(Kind::ProjectClosed(pb::ProjectClosed {
            project_id: plan.project_id.clone(),
            end_date: if details.actual_end.is_empty() {
                details.planned_end.clone()
            } else {
                details.actual_end.clone()
            },
            cancelled: status == ActivityStatus::CANCELLED,
        }));
    }
    kinds
}
