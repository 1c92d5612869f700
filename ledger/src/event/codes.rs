//! IATI and ISO reference lists, compiled into the binary from `ledger/codelists/*.tsv`
//! (converted from IATI's public codelists; each file's header names its source).

use std::collections::HashMap;
use std::sync::LazyLock;

pub use crate::store::ActivityStatus;

impl ActivityStatus {
    /// Its English name in IATI's list (empty for a code not in it).
    pub fn name(self) -> &'static str {
        ACTIVITY_STATUS
            .get(&self.0.to_string())
            .map_or("", |entry| entry.name)
    }
}

/// One reference list: its name (used in error messages) and its codes.
pub struct Codelist {
    /// The list's name, as error messages show it.
    pub name: &'static str,
    entries: HashMap<&'static str, Entry>,
}

/// A code's English name, its category (e.g. the DAC 3-digit category of a
/// 5-digit sector) and whether IATI withdrew it.
pub struct Entry {
    /// The code's English name.
    pub name: &'static str,
    /// Its category (empty in lists without categories).
    pub category: &'static str,
    /// IATI withdrew the code.
    pub withdrawn: bool,
}

impl Codelist {
    fn parse(name: &'static str, text: &'static str) -> Self {
        let entries = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(|line| {
                let mut fields = line.split('\t');
                let code = fields.next().unwrap_or_default();
                let entry = Entry {
                    name: fields.next().unwrap_or_default(),
                    category: fields.next().unwrap_or_default(),
                    withdrawn: fields.next() == Some("withdrawn"),
                };
                (code, entry)
            })
            .collect();
        Self { name, entries }
    }

    /// The entry of an active (not withdrawn) code.
    pub fn active(&self, code: &str) -> Option<&Entry> {
        self.entries.get(code).filter(|entry| !entry.withdrawn)
    }

    /// The entry of a code, withdrawn or not.
    pub fn get(&self, code: &str) -> Option<&Entry> {
        self.entries.get(code)
    }

    /// The number of codes, withdrawn ones included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the list has no code.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

macro_rules! codelist {
    ($static:ident, $name:literal, $file:literal) => {
        #[doc = concat!("The ", $name, " list (", $file, ").")]
        pub static $static: LazyLock<Codelist> = LazyLock::new(|| {
            Codelist::parse($name, include_str!(concat!("../../codelists/", $file)))
        });
    };
}

codelist!(
    SECTOR,
    "IATI Sector (OECD DAC 5-digit purpose codes)",
    "sector.tsv"
);
codelist!(
    SECTOR_CATEGORY,
    "IATI SectorCategory (OECD DAC 3-digit)",
    "sector-category.tsv"
);
codelist!(
    CURRENCY,
    "ISO 4217 currency (IATI Currency)",
    "currency.tsv"
);
codelist!(
    ORGANISATION_TYPE,
    "IATI OrganisationType",
    "organisation-type.tsv"
);
codelist!(
    ORGANISATION_ROLE,
    "IATI OrganisationRole",
    "organisation-role.tsv"
);
codelist!(
    ACTIVITY_STATUS,
    "IATI ActivityStatus",
    "activity-status.tsv"
);
codelist!(
    TRANSACTION_TYPE,
    "IATI TransactionType",
    "transaction-type.tsv"
);
codelist!(
    COUNTRY,
    "ISO 3166-1 alpha-2 country (IATI Country)",
    "country.tsv"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_load_with_their_known_codes() {
        assert_eq!(SECTOR.active("14030").map(|e| e.category), Some("140"));
        assert!(SECTOR_CATEGORY.active("140").is_some());
        assert!(CURRENCY.active("LYD").is_some() && CURRENCY.active("EUR").is_some());
        assert!(CURRENCY.active("XYZ").is_none());
        assert_eq!(ACTIVITY_STATUS.len(), 6);
        assert!(ORGANISATION_TYPE.active("21").is_some());
        assert!(TRANSACTION_TYPE.active("3").is_some());
        assert!(COUNTRY.active("LY").is_some() && COUNTRY.active("SY").is_some());
    }
}
