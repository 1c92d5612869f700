//! Search of what is registered on the ledger, for a person who knows a
//! name or a code: municipalities, organisations and projects whose name
//! or title contains the query once both are normalised (Arabic spelling
//! variants — alef and hamza forms, ta marbuta, alef maqsura, diacritics,
//! tatweel — and Latin case and accents fold together, see
//! [`super::normalise`]), or whose P-code, id or IATI identifier is the
//! query.
//!
//! There is no index: a search reads the registries in key order,
//! municipalities, then organisations, then projects, and a page stops
//! when it holds `limit` hits or has read `scan_max` records, whichever
//! comes first; its token says where the next page reads on. So a request
//! costs at most `scan_max` record reads, however large the ledger.

use rocksdb::IteratorMode;

use super::normalise::normalise;
use crate::store::{
    cf, decode_record, MunicipalityRecord, OrgRecord, ProjectRecord, Store, StoreError,
};

/// What a hit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HitKind {
    /// A municipality (its id is its P-code).
    Municipality,
    /// An organisation.
    Organisation,
    /// A project.
    Project,
}

impl HitKind {
    /// The name used on the wire and in page tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            HitKind::Municipality => "municipality",
            HitKind::Organisation => "organisation",
            HitKind::Project => "project",
        }
    }

    fn family(self) -> &'static str {
        match self {
            HitKind::Municipality => cf::MUNICIPALITIES,
            HitKind::Organisation => cf::ORGS,
            HitKind::Project => cf::PROJECTS,
        }
    }

    fn parse(text: &str) -> Option<HitKind> {
        ORDER.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// The registries in the order a search reads them.
const ORDER: [HitKind; 3] = [
    HitKind::Municipality,
    HitKind::Organisation,
    HitKind::Project,
];

/// One thing found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    /// What it is.
    pub kind: HitKind,
    /// Its P-code or id.
    pub id: String,
    /// Its name or title in Latin script.
    pub latin: String,
    /// Its name or title in Arabic script.
    pub arabic: String,
    /// Its IATI identifier (empty for a municipality, or when it has none).
    pub iati_identifier: String,
}

/// A page of hits, and where the next page reads on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The hits, in the order read.
    pub hits: Vec<Hit>,
    /// The token of the next page (`None`: everything was read).
    pub next: Option<String>,
    /// The page stopped at `scan_max` records, not because it was full.
    pub partial: bool,
}

/// Why a search cannot run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SearchError {
    /// The query has no letter or digit once normalised.
    #[error("the query {0:?} has no letter or digit to look for")]
    EmptyQuery(String),
    /// The page token is not one a search gave.
    #[error("page token {0:?} is not one a search gave: start again without it")]
    BadToken(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The query, folded once.
struct Query {
    /// As typed, trimmed: compared with codes and ids.
    exact: String,
    /// Normalised: looked for in names and titles.
    folded: String,
}

impl Query {
    fn code(&self, code: &str) -> bool {
        !code.is_empty() && code.eq_ignore_ascii_case(&self.exact)
    }

    fn name(&self, names: [&str; 2]) -> bool {
        names
            .iter()
            .any(|name| !name.is_empty() && normalise(name).contains(&self.folded))
    }
}

impl Store {
    /// Up to `limit` hits for `query`, reading on from `token` (empty: the
    /// start) and at most `scan_max` records.
    pub fn search(
        &self,
        query: &str,
        token: &str,
        limit: usize,
        scan_max: usize,
    ) -> Result<Found, SearchError> {
        let query = Query {
            exact: query.trim().to_owned(),
            folded: normalise(query),
        };
        if query.folded.is_empty() {
            return Err(SearchError::EmptyQuery(query.exact));
        }
        let (start_kind, mut after) = match token.split_once(':') {
            None if token.is_empty() => (HitKind::Municipality, String::new()),
            Some((kind, key)) => (
                HitKind::parse(kind).ok_or_else(|| SearchError::BadToken(token.to_owned()))?,
                key.to_owned(),
            ),
            None => return Err(SearchError::BadToken(token.to_owned())),
        };
        let mut hits = Vec::new();
        let mut scanned = 0;
        for kind in ORDER.into_iter().skip_while(|kind| *kind != start_kind) {
            let iter = self.db().iterator_cf(
                self.cf(kind.family()),
                if after.is_empty() {
                    IteratorMode::Start
                } else {
                    IteratorMode::From(after.as_bytes(), rocksdb::Direction::Forward)
                },
            );
            for item in iter {
                let (key, value) = item.map_err(StoreError::from)?;
                if !after.is_empty() && *key <= *after.as_bytes() {
                    continue;
                }
                if hits.len() == limit || scanned == scan_max {
                    // Read on from the last record read.
                    return Ok(Found {
                        partial: hits.len() < limit,
                        hits,
                        next: Some(format!("{}:{after}", kind.as_str())),
                    });
                }
                scanned += 1;
                let id = String::from_utf8_lossy(&key).into_owned();
                if let Some(hit) = matches(kind, &query, &id, &value)? {
                    hits.push(hit);
                }
                after = id;
            }
            after.clear();
        }
        Ok(Found {
            hits,
            next: None,
            partial: false,
        })
    }
}

/// The record `value` of `kind` at `id` as a hit, if it matches.
fn matches(
    kind: HitKind,
    query: &Query,
    id: &str,
    value: &[u8],
) -> Result<Option<Hit>, StoreError> {
    let hit = |latin: &str, arabic: &str, iati: &str| Hit {
        kind,
        id: id.to_owned(),
        latin: latin.to_owned(),
        arabic: arabic.to_owned(),
        iati_identifier: iati.to_owned(),
    };
    Ok(match kind {
        HitKind::Municipality => {
            let m: MunicipalityRecord = decode_record(cf::MUNICIPALITIES, value)?;
            (query.code(id) || query.name([&m.name_latin, &m.name_arabic]))
                .then(|| hit(&m.name_latin, &m.name_arabic, ""))
        }
        HitKind::Organisation => {
            let o: OrgRecord = decode_record(cf::ORGS, value)?;
            (query.code(id)
                || query.code(&o.iati_identifier)
                || query.name([&o.name_latin, &o.name_arabic]))
            .then(|| hit(&o.name_latin, &o.name_arabic, &o.iati_identifier))
        }
        HitKind::Project => {
            let p: ProjectRecord = decode_record(cf::PROJECTS, value)?;
            let title = &p.summary;
            (query.code(id)
                || query.code(&p.iati_identifier)
                || query.name([&title.title_latin, &title.title_arabic]))
            .then(|| hit(&title.title_latin, &title.title_arabic, &p.iati_identifier))
        }
    })
}
