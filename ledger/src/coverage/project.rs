//! What coverage reads of a project: its donor (signed or claimed), its
//! period, whether it counts on a date, its places.

use crate::date::Date;
use tansiq_proto::v1 as pb;

use crate::store::{AttestationRecord, ProjectRecord, Subject};

/// Whether `pcode` is `area` or a place under it: a parent's P-code is a
/// prefix of its children's (the ledger refuses a municipality whose
/// parent is not).
pub(crate) fn pcode_within(pcode: &str, area: &str) -> bool {
    pcode.starts_with(area)
}

/// Whether a project closed until `closed_until` (see
/// [`ProjectRecord::closed_until`]) counts as support on `day`: while open,
/// and when closed through its end day.
pub(crate) fn counts_on(closed_until: Option<Option<Date>>, day: Date) -> bool {
    match closed_until {
        None => true,
        Some(end) => end.is_some_and(|end| day <= end),
    }
}

/// One period of one result: what was targeted, reported and confirmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeriodStatus {
    /// The result.
    pub result_id: String,
    /// The period (YYYY-MM-DD).
    pub start: String,
    /// Its end.
    pub end: String,
    /// The target value ("" when none, or qualitative).
    pub target: String,
    /// The actual value the project reports.
    pub reported: String,
    /// The actual value as the municipality confirmed it: the reported one
    /// when CONFIRMED, its own when PARTLY, "" otherwise.
    pub confirmed: String,
    /// The municipality's word: DISPUTED if one disputes it, else PARTLY,
    /// else CONFIRMED; UNSPECIFIED when none attested it.
    pub verdict: pb::AttestationVerdict,
}

impl ProjectRecord {
    /// The donor: the first funding organisation, else the reporting one.
    /// A funder other than the reporting organisation is only *claimed*
    /// ([`ProjectRecord::donor_is_claimed`]) until it attests the funding.
    pub fn donor(&self) -> &str {
        self.summary
            .funders
            .first()
            .map_or(self.owner.as_str(), String::as_str)
    }

    /// Whether the donor shown is named by another organisation than
    /// itself (the reporting one) and has not confirmed it (an attestation
    /// CONFIRMED or PARTLY of the project's funding).
    pub fn donor_is_claimed(&self) -> bool {
        self.donor() != self.owner
            && !matches!(
                self.donor_attestation(),
                pb::AttestationVerdict::Confirmed | pb::AttestationVerdict::Partly
            )
    }

    /// What the donor shown said of the funding the project claims of it
    /// (`Unspecified`: nothing, or it is the reporting organisation).
    pub fn donor_attestation(&self) -> pb::AttestationVerdict {
        self.funding_attested
            .get(self.donor())
            .copied()
            .unwrap_or_default()
    }

    /// The period the project occupies: from its start (or registration)
    /// to its closure, else its end; `None` is open-ended.
    pub fn period(&self) -> (Option<Date>, Option<Date>) {
        let start = Date::parse(&self.summary.start).or_else(|| Date::parse(&self.registered_on));
        let end = if self.closed {
            Date::parse(&self.closed_on)
        } else {
            Date::parse(&self.summary.end)
        };
        (start, end)
    }

    /// Whether the project counts as support on `day`.
    pub fn counts_on(&self, day: Date) -> bool {
        counts_on(self.closed_until(), day)
    }

    /// `None` while open; when closed, the day it ends (`None`: no day, so
    /// it counts on none). See [`counts_on`].
    pub(crate) fn closed_until(&self) -> Option<Option<Date>> {
        self.closed.then(|| Date::parse(&self.closed_on))
    }

    /// What the municipalities said of the project's activity at `pcode`:
    /// the organisations of the municipality and of those above it that
    /// attested it. DISPUTED if one disputes it, else CONFIRMED if one
    /// confirms it, else PARTLY if one says so; UNSPECIFIED when none
    /// attested it (support reported only).
    pub fn activity_attested(&self, pcode: &str) -> pb::AttestationVerdict {
        let Some(attested) = self.attested.get(&Subject::Active.key()) else {
            return pb::AttestationVerdict::Unspecified;
        };
        let verdicts: Vec<pb::AttestationVerdict> = attested
            .values()
            .filter(|word| !word.pcode.is_empty() && pcode_within(pcode, &word.pcode))
            .map(|word| word.verdict)
            .collect();
        [
            pb::AttestationVerdict::Disputed,
            pb::AttestationVerdict::Confirmed,
            pb::AttestationVerdict::Partly,
        ]
        .into_iter()
        .find(|verdict| verdicts.contains(verdict))
        .unwrap_or_default()
    }

    /// Each result period's target, actual as reported and actual as
    /// confirmed where it was delivered (see [`PeriodStatus`]).
    pub fn result_periods(&self) -> Vec<PeriodStatus> {
        let mut periods = Vec::new();
        for (result_id, result) in &self.results {
            for period in &result.indicator.periods {
                let subject = Subject::Result {
                    result_id: result_id.clone(),
                    period_start: period.start.clone(),
                };
                let words: Vec<&AttestationRecord> = self
                    .attested
                    .get(&subject.key())
                    .map(|by| by.values().collect())
                    .unwrap_or_default();
                let reported = period.actual.clone().unwrap_or_default().value;
                let verdict = [
                    pb::AttestationVerdict::Disputed,
                    pb::AttestationVerdict::Partly,
                    pb::AttestationVerdict::Confirmed,
                ]
                .into_iter()
                .find(|verdict| words.iter().any(|word| word.verdict == *verdict))
                .unwrap_or_default();
                let confirmed = match verdict {
                    pb::AttestationVerdict::Confirmed => reported.clone(),
                    pb::AttestationVerdict::Partly => words
                        .iter()
                        .find(|word| word.verdict == verdict)
                        .map(|word| word.value.clone())
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                periods.push(PeriodStatus {
                    result_id: result_id.clone(),
                    start: period.start.clone(),
                    end: period.end.clone(),
                    target: period.target.clone().unwrap_or_default().value,
                    reported,
                    confirmed,
                    verdict,
                });
            }
        }
        periods
    }

    /// The (municipality, sector) pairs the project supports.
    pub fn places(&self) -> impl Iterator<Item = (&str, &str)> {
        self.summary.locations.iter().flat_map(move |pcode| {
            self.summary
                .sectors
                .iter()
                .map(move |sector| (pcode.as_str(), sector.as_str()))
        })
    }
}
