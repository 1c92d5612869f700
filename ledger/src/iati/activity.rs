//! What an IATI activity holds, as the reader ([`super::read`]) yields it:
//! its texts in the ledger's two scripts, organisations, sectors, places,
//! budgets, transactions, results and (Tansiq's extension) attestations.
//! Plain data: what it becomes on the ledger is [`super::plan`]'s choice.

/// A text in the ledger's two scripts (Arabic, and the first Latin-script
/// language found).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Texts {
    /// The text in the first Latin-script language (empty when none).
    pub latin: String,
    /// The text in Arabic (empty when none).
    pub arabic: String,
}

impl Texts {
    /// Keeps `text` in its script's slot, unless that slot has one already.
    pub(super) fn add(&mut self, lang: &str, text: &str) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        let arabic = lang.eq_ignore_ascii_case("ar")
            || (lang.is_empty() && text.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c)));
        let slot = if arabic {
            &mut self.arabic
        } else {
            &mut self.latin
        };
        if slot.is_empty() {
            *slot = text.to_owned();
        }
    }

    /// Whether neither script has a text.
    pub fn is_empty(&self) -> bool {
        self.latin.is_empty() && self.arabic.is_empty()
    }
}

/// A reporting or participating organisation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Organisation {
    /// Its IATI organisation identifier (`ref`, empty when not given).
    pub reference: String,
    /// Its name.
    pub name: Texts,
    /// IATI OrganisationRole (participating-org), 0 for the reporting org.
    pub role: u32,
    /// IATI OrganisationType, 0 when not given.
    pub org_type: u32,
    /// The identifier of its own activity for this one (`activity-id`).
    pub activity_id: String,
    /// Tansiq extension (`tansiq:org-id`): the organisation's ledger id.
    pub ledger_org_id: String,
    /// Tansiq extension (`tansiq:implied="true"`): written only because the
    /// schema requires a participating-org; not part of the project.
    pub implied: bool,
}

/// A sector of an activity.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sector {
    /// IATI SectorVocabulary as in 2.0x ("1" DAC 5-digit, "2" DAC 3-digit,
    /// ...); 1.0x "DAC" and "DAC-3" are read as "1" and "2".
    pub vocabulary: String,
    /// The code in that vocabulary.
    pub code: String,
    /// The activity's share in the sector, when given.
    pub percentage: Option<f64>,
}

/// An administrative area of a location.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdministrativeCode {
    /// IATI GeographicVocabulary (e.g. "G1"; empty when not given).
    pub vocabulary: String,
    /// The administrative level, when given.
    pub level: Option<u32>,
    /// The area's code in that vocabulary (a P-code in Tansiq's exports).
    pub code: String,
    /// Tansiq extension (`tansiq:percentage`): the project's share here.
    pub percentage: Option<u32>,
}

/// A location of an activity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    /// Its name.
    pub name: Texts,
    /// The administrative areas it names.
    pub administrative: Vec<AdministrativeCode>,
}

/// An amount of money.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Amount {
    /// As written (a decimal, possibly negative).
    pub value: String,
    /// The value's currency, else the activity's default currency.
    pub currency: String,
    /// The date for the exchange rate (YYYY-MM-DD).
    pub value_date: String,
}

/// A budget of an activity.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Budget {
    /// IATI BudgetType: 1 original, 2 revised (0 when not given).
    pub budget_type: u32,
    /// The first day of the budget's period (YYYY-MM-DD).
    pub period_start: String,
    /// The last day of its period (YYYY-MM-DD).
    pub period_end: String,
    /// The amount.
    pub value: Amount,
}

/// A transaction of an activity.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Transaction {
    /// IATI TransactionType (numeric; 1.0x letter codes are converted).
    pub transaction_type: u32,
    /// Its date (YYYY-MM-DD).
    pub date: String,
    /// The amount.
    pub value: Amount,
    /// The provider's activity the money comes from (`provider-activity-id`).
    pub provider_activity_id: String,
    /// Its description.
    pub description: Texts,
    /// Tansiq extension (`tansiq:org-id` on `receiver-org`): the receiving
    /// organisation's ledger id, which may attest the receipt.
    pub receiver_org_id: String,
}

/// A baseline, target or actual value of an indicator, as read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IndicatorValue {
    /// Its `value` attribute (empty for a qualitative indicator).
    pub value: String,
    /// Its comment.
    pub comment: Texts,
}

/// One period of an indicator, as read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IndicatorPeriod {
    /// Its start and end (YYYY-MM-DD).
    pub start: String,
    /// Its end.
    pub end: String,
    /// Its (first) target.
    pub target: Option<IndicatorValue>,
    /// Its (first) actual value.
    pub actual: Option<IndicatorValue>,
}

/// One `indicator` of one `result`: a Tansiq result each.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResultIndicator {
    /// Tansiq extension (`tansiq:result-id` on `indicator`): the result's
    /// ledger id, in files exported from a Tansiq ledger.
    pub ledger_result_id: String,
    /// Which `result` of the activity it is in (1-based), and which
    /// `indicator` of that result (1-based).
    pub result_index: usize,
    /// See `result_index`.
    pub indicator_index: usize,
    /// The result's IATI ResultType code.
    pub result_type: u32,
    /// The result's title.
    pub result_title: Texts,
    /// IATI IndicatorMeasure code.
    pub measure: u32,
    /// More is better (IATI's default).
    pub ascending: bool,
    /// The indicator's title.
    pub title: Texts,
    /// Its first `reference`: vocabulary and code.
    pub vocabulary: String,
    /// See `vocabulary`.
    pub code: String,
    /// The baseline's year and value.
    pub baseline_year: u32,
    /// See `baseline_year`.
    pub baseline: Option<IndicatorValue>,
    /// Its periods.
    pub periods: Vec<IndicatorPeriod>,
}

/// Tansiq extension (`tansiq:attestation`): another party's word on one of
/// the project's claims on the ledger the file was exported from. Signed
/// there by that party; read and reported, never signed again.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttestationRead {
    /// What it is about ("active", "result/ID/START", "transaction/ID", "funding").
    pub subject: String,
    /// Who attested.
    pub attester: String,
    /// CONFIRMED, DISPUTED or PARTLY.
    pub verdict: String,
    /// The value it confirms instead, if any.
    pub value: String,
    /// Its note.
    pub note: String,
}

/// One `iati-activity`, as read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Activity {
    /// The activity's IATI identifier.
    pub identifier: String,
    /// Tansiq extension (`tansiq:project-id`): the project's ledger id, in
    /// files exported from a Tansiq ledger.
    pub ledger_project_id: String,
    /// The line where the activity starts.
    pub line: u64,
    /// The ISO 4217 currency of amounts that name none.
    pub default_currency: String,
    /// The organisation that publishes the activity.
    pub reporting_org: Organisation,
    /// The participating organisations.
    pub participants: Vec<Organisation>,
    /// The title.
    pub title: Texts,
    /// The description.
    pub description: Texts,
    /// IATI ActivityStatus, None when absent.
    pub status: Option<u32>,
    /// Planned start date (YYYY-MM-DD, empty when not given).
    pub planned_start: String,
    /// Actual start date (YYYY-MM-DD, empty when not given).
    pub actual_start: String,
    /// Planned end date (YYYY-MM-DD, empty when not given).
    pub planned_end: String,
    /// Actual end date (YYYY-MM-DD, empty when not given).
    pub actual_end: String,
    /// Recipient countries: ISO 3166-1 alpha-2 code and share, when given.
    pub countries: Vec<(String, Option<f64>)>,
    /// Sectors.
    pub sectors: Vec<Sector>,
    /// Locations.
    pub locations: Vec<Location>,
    /// Budgets.
    pub budgets: Vec<Budget>,
    /// Transactions.
    pub transactions: Vec<Transaction>,
    /// Results: one entry per indicator.
    pub results: Vec<ResultIndicator>,
    /// Each `result` opened so far: its type and title (read before its
    /// indicators, as IATI orders them).
    pub(crate) result_heads: Vec<(u32, Texts)>,
    /// Tansiq extension: attestations on the exporting ledger.
    pub attestations: Vec<AttestationRead>,
}
