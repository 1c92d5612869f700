//! Builders for tests and benchmarks, not for production: event bodies
//! ([`events`]), a small disk to fill ([`disk`]), a fresh in-process
//! ledger ([`open_test_ledger`]) and the node's commit path without a node
//! ([`commit_group`]). Compiled only with the `test-support` feature (the
//! ledger's integration tests and `tansiq-tests` turn it on; `tansiq-node`
//! and `tansiq` do not).

pub mod disk;
pub mod events;

use std::path::Path;

use tansiq_proto::v1 as pb;

use crate::append::RequestOutcome;
use crate::author::Author;
use crate::event::{admit, Signatures};
use crate::genesis::Genesis;
use crate::ids::OrgId;
use crate::signing::KeyPair;
use crate::Ledger;

/// The node's path for a group of requests, in process: decode, batch-verify,
/// commit with the given commit time.
pub fn commit_group(
    ledger: &Ledger,
    requests: Vec<Vec<pb::SignedEvent>>,
    committed_at_ms: i64,
) -> Vec<RequestOutcome> {
    let decoded = admit(ledger.chain(), requests, Signatures::Verify);
    ledger
        .commit_group(decoded, committed_at_ms)
        .expect("storage works")
}

/// The genesis of a chain named `chain` whose ministry ("ministry", no
/// names) holds the key of `seed`, created at time 0.
pub fn bare_genesis(chain: &str, seed: u8) -> Genesis {
    Genesis::new_chain(
        chain,
        &OrgId::parse("ministry").expect("valid org id"),
        pb::Names::default(),
        &[KeyPair::from_seed([seed; 32]).public()],
        0,
    )
    .expect("valid genesis")
}

/// A new in-process ledger at `path` for a chain named `chain`, whose ministry
/// ("ministry") holds the key of `seed`; returns it with the ministry's author.
/// For property tests and benchmarks that need no node.
pub fn open_test_ledger(
    path: &Path,
    chain: &str,
    seed: u8,
    created_at_ms: i64,
) -> (Ledger, Author) {
    let ministry = OrgId::parse("ministry").expect("valid org id");
    let key = KeyPair::from_seed([seed; 32]);
    let genesis = Genesis::new_chain(
        chain,
        &ministry,
        pb::Names {
            latin: "Ministry".into(),
            arabic: "الوزارة".into(),
        },
        &[key.public()],
        created_at_ms,
    )
    .expect("valid genesis");
    let ledger = Ledger::open(path, Some(&genesis)).expect("open the ledger");
    (ledger, Author::new(genesis.chain, ministry, key, 0, None))
}

/// Makes `ledger`'s store look as a release before store format 5 left
/// it: no IATI activities' index, format 4 recorded. Returns how many
/// index entries it removed. Reopening the ledger upgrades it.
pub fn as_written_before_format_5(ledger: &Ledger) -> usize {
    use crate::store::cf;
    let store = ledger.store();
    let mut batch = rocksdb::WriteBatch::default();
    let pairs = store.dump(cf::IATI_ACTIVITIES).expect("read");
    for (key, _) in &pairs {
        batch.delete_cf(store.cf(cf::IATI_ACTIVITIES), key);
    }
    store.write_synced(batch).expect("write");
    store.set_format_version(4).expect("write");
    pairs.len()
}

/// How many lists of projects by place the writer holds in memory, and
/// those that differ from what the store says is in each place now (see
/// `append/places.rs`).
pub fn place_index_differences(ledger: &Ledger) -> (usize, Vec<String>) {
    ledger.place_index_differences().expect("storage works")
}

/// How far the writer remembers a place's projects: not at all (`None`),
/// all of them (`Some(None)`), or up to a project id (`Some(Some(id))`).
pub fn place_remembered_through(
    ledger: &Ledger,
    pcode: &str,
    sector: &str,
) -> Option<Option<String>> {
    ledger.place_remembered_through(pcode, sector)
}

/// Every project's state as of `as_of`, read one project at a time: each
/// id in the projects family, its state by a look-up of its own versions
/// (`Coverage::project_as_registered`), those registered later left out.
/// What a listing of every project must equal.
pub fn projects_one_by_one(
    ledger: &Ledger,
    as_of: crate::coverage::AsOf,
) -> Vec<(String, crate::store::ProjectRecord)> {
    let coverage = crate::coverage::Coverage::new(ledger.store(), as_of);
    let ids = ledger
        .store()
        .dump(crate::store::cf::PROJECTS)
        .expect("storage works");
    ids.into_iter()
        .filter_map(|(id, _)| {
            let id = String::from_utf8(id.to_vec()).expect("project ids are text");
            let project = coverage.project_as_registered(&id).expect("storage works");
            project.map(|project| (id, project))
        })
        .collect()
}

/// The days whose counts the ledger keeps for as-of queries, by the end
/// of each (`AsOf::cut_ms`), the most recently asked last (see
/// `coverage::PastTallies`).
pub fn past_days_counted(ledger: &Ledger) -> Vec<i64> {
    ledger.past_days_counted()
}

/// Rewrites every `every`-th stored signing key, project and project
/// version (in key order, from the first) in the JSON form of store formats
/// 1 and 2, as the previous version wrote them; the others stay in
/// protobuf. Returns how many records of each form the three families hold
/// then: (JSON, protobuf). For the tests that a store holding both forms
/// answers as it did.
pub fn rewrite_in_the_previous_encoding(ledger: &Ledger, every: usize) -> (usize, usize) {
    use crate::store::{cf, Decode, KeyRecord, ProjectRecord, ProjectVersion};
    fn json<T: Decode + serde::Serialize>(bytes: &[u8]) -> Vec<u8> {
        let record = T::decode(bytes).expect("a stored record reads");
        serde_json::to_vec(&record).expect("a record serialises")
    }
    let store = ledger.store();
    let mut batch = rocksdb::WriteBatch::default();
    let (mut in_json, mut in_protobuf) = (0, 0);
    for family in [cf::KEYS, cf::PROJECTS, cf::PROJECT_VERSIONS] {
        for (index, (key, value)) in store.dump(family).expect("read").into_iter().enumerate() {
            if index % every != 0 {
                in_protobuf += 1;
                continue;
            }
            let rewritten = match family {
                cf::KEYS => json::<KeyRecord>(&value),
                cf::PROJECTS => json::<ProjectRecord>(&value),
                _ => json::<ProjectVersion>(&value),
            };
            batch.put_cf(store.cf(family), key, rewritten);
            in_json += 1;
        }
    }
    store.write_synced(batch).expect("write");
    (in_json, in_protobuf)
}

/// What a store's pairs cost to write, written again: every pair `ledger`
/// holds in the families of its state ([`crate::store::cf::STATE`]: the
/// log, the events, the tree, the registries and the projections), put
/// into a new store at `target` in batches of as many pairs as a rebuild's
/// chunk of its `events` makes on average, without the write-ahead log as
/// a rebuild writes its chunks, and every memtable flushed at the end.
/// They go in key order, each memtable's best case (every insertion lands
/// next to the one before), where a rebuild writes them in log order.
/// Only building the batches and writing them is timed, not the reads
/// that gather them. For `tansiq-coverage-bench`: a floor under a
/// rebuild that writes the same records through RocksDB, whatever its
/// staging costs. Returns the pairs, their bytes and the time.
pub fn rewrite_time(
    ledger: &Ledger,
    target: &Path,
    events: u64,
) -> (u64, u64, std::time::Duration) {
    use crate::store::{cf, Store};
    let source = ledger.store();
    // RocksDB's estimate (a key overwritten in a memtable may count
    // twice), rather than a first pass over every pair: it only sizes the
    // batches.
    let all_pairs: u64 = cf::STATE
        .iter()
        .map(|family| {
            source
                .db()
                .property_int_value_cf(source.cf(family), "rocksdb.estimate-num-keys")
                .expect("read a property")
                .unwrap_or(0)
        })
        .sum();
    let chunk_events = crate::append::REBUILD_CHUNK_EVENTS as u64;
    let batch_pairs = (all_pairs * chunk_events / events.max(1)).max(1) as usize;
    let copy = Store::open(target).expect("open a new store");
    let (mut pairs, mut bytes) = (0u64, 0u64);
    let mut spent = std::time::Duration::ZERO;
    type Pending = Vec<(&'static str, crate::store::KeyValue)>;
    let mut pending: Pending = Vec::with_capacity(batch_pairs);
    let mut write = |pending: &mut Pending| {
        let started = std::time::Instant::now();
        let mut batch = rocksdb::WriteBatch::default();
        for (family, (key, value)) in pending.drain(..) {
            batch.put_cf(copy.cf(family), key, value);
        }
        copy.write_unlogged(batch).expect("write");
        spent += started.elapsed();
    };
    for family in cf::STATE {
        let pairs_of = source
            .db()
            .iterator_cf(source.cf(family), rocksdb::IteratorMode::Start);
        for pair in pairs_of {
            let (key, value) = pair.expect("read");
            pairs += 1;
            bytes += (key.len() + value.len()) as u64;
            pending.push((family, (key, value)));
            if pending.len() == batch_pairs {
                write(&mut pending);
            }
        }
    }
    write(&mut pending);
    let started = std::time::Instant::now();
    copy.flush_all().expect("flush");
    spent += started.elapsed();
    (pairs, bytes, spent)
}

/// What a rebuild's first stage costs without verification: `ledger`'s
/// whole log read in the rebuild's chunks, each entry with its event, decoded,
/// on this thread; nothing applied. For `tansiq-coverage-bench`, beside
/// [`rewrite_time`]. Returns the events read, the time spent reading the
/// log and its events (in one scan since store format 4; by id for events
/// stored before), and the time spent
/// decoding them (the rebuild's `admit`, signatures unchecked).
pub fn reread_time(ledger: &Ledger) -> (u64, std::time::Duration, std::time::Duration) {
    read_log(ledger, u64::MAX, |_| {})
}

/// The first `count` events of `ledger`'s log (all if fewer), decoded, as
/// a rebuild reads them.
pub fn logged_events(ledger: &Ledger, count: u64) -> Vec<crate::event::Event> {
    let mut events = Vec::new();
    read_log(ledger, count, |decoded| events.extend(decoded));
    events.truncate(count as usize);
    events
}

/// Reads `ledger`'s log from its start in the rebuild's chunks until at
/// least `limit` events, handing each chunk's decoded events to `each`;
/// returns the events read and the time spent fetching and decoding.
fn read_log(
    ledger: &Ledger,
    limit: u64,
    mut each: impl FnMut(Vec<crate::event::Event>),
) -> (u64, std::time::Duration, std::time::Duration) {
    use crate::append::read_chunk;
    use crate::ids::LogPosition;
    let (mut fetching, mut decoding) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    let mut from = LogPosition(1);
    let mut events = 0u64;
    while events < limit {
        let started = std::time::Instant::now();
        let Some((records, envelopes)) = read_chunk(ledger, from, i64::MAX).expect("read") else {
            break;
        };
        fetching += started.elapsed();
        events += records.len() as u64;
        from = records.last().map_or(from, |last| last.position.next());
        let started = std::time::Instant::now();
        let decoded = admit(
            ledger.chain(),
            envelopes.into_iter().map(|e| vec![e]),
            Signatures::Unchecked,
        );
        decoding += started.elapsed();
        each(
            decoded
                .into_iter()
                .flat_map(|request| request.expect("every stored event decodes"))
                .collect(),
        );
    }
    (events, fetching, decoding)
}

/// A donor organisation `org` signing with `key`: the ministry's
/// registration of it, signed at `at_ms` (to commit or submit), and the
/// donor's author at the start of its key's chain.
pub fn registered_donor(
    ministry: &mut Author,
    org: &str,
    key: KeyPair,
    at_ms: i64,
) -> (pb::SignedEvent, Author) {
    let registration = ministry.sign(events::register_donor(org, &key), at_ms).0;
    let org = OrgId::parse(org).expect("valid test org id");
    let donor = Author::new(ministry.chain.clone(), org, key, 0, None);
    (registration, donor)
}

/// [`registered_donor`] for each of `orgs`, each with a new key: the
/// ministry's registrations in order, and the donors' authors.
pub fn registered_donors(
    ministry: &mut Author,
    orgs: impl IntoIterator<Item = String>,
    at_ms: i64,
) -> (Vec<pb::SignedEvent>, Vec<Author>) {
    orgs.into_iter()
        .map(|org| registered_donor(ministry, &org, KeyPair::generate(), at_ms))
        .unzip()
}

/// Entries in `ledger`'s memtables (active and immutable, every column
/// family): what no table file holds yet.
pub fn unflushed_entries(ledger: &Ledger) -> u64 {
    let store = ledger.store();
    crate::store::cf::all()
        .flat_map(|family| {
            [
                "rocksdb.num-entries-active-mem-table",
                "rocksdb.num-entries-imm-mem-tables",
            ]
            .map(|property| {
                store
                    .db()
                    .property_int_value_cf(store.cf(family), property)
                    .expect("read a property")
                    .unwrap_or(0)
            })
        })
        .sum()
}
