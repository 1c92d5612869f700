//! What coverage reads of a project: its donor (signed or claimed), its
//! period, whether it counts on a date, its places.

use crate::date::Date;
use tansiq_proto::v1 as pb;

use crate::store::ProjectRecord;

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
        !self.closed || Date::parse(&self.closed_on).is_some_and(|end| day <= end)
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
