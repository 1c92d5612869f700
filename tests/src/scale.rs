//! The ledger of the scale benchmarks (`tansiq-coverage-bench`,
//! `tansiq-console-bench`): about a million signed events — by default
//! 10,000 municipalities under 100 regions, 40 sectors, 100 donors, 200,000
//! projects, each registered, updated, set to implementation and given two
//! transactions, plus one assessed need per municipality — committed in
//! process through the same append path as a node (decode, batch
//! verification, one synced batch per group), one simulated day per group.
//!
//! [`build`] writes a node's data directory: the ledger in `DIR/db` (where
//! `tansiq-node --data-dir DIR` opens it; the genesis is stored in it, so
//! the node needs no `--genesis`), its genesis in `DIR/genesis.json` and the
//! ministry's key in `DIR/ministry.key` (as a `--dev` node lays them out),
//! and, once every event is committed, what was built in `DIR/scale.json`
//! ([`Manifest`]), by which a later run knows it can reuse the directory.
//!
//! Every P-code is under the country `LY` ([`COUNTRY`]: the `country` of
//! every municipality event); regions `LY00`..`LY99` are the registered
//! top level (admin level 1, [`region_pcode`]), municipalities `LYrrNNNN`
//! below them (level 2, [`pcode`]); projects are `p0`, `p1`, ...
//! ([`project_id`]).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tansiq_ledger::author::KeyFile;
use tansiq_ledger::date::Date;
use tansiq_ledger::event::codes::SECTOR;
use tansiq_ledger::genesis::GenesisFile;
use tansiq_ledger::signing::KeyPair;
use tansiq_ledger::testing::registered_donor;
use tansiq_ledger::Ledger;
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::event_body::Kind;

use crate::{commit_group, events};

/// 40 OECD DAC purpose codes across the sectors municipalities work in.
pub const SECTORS: [&str; 40] = [
    "11110", "11120", "11130", "11182", "11220", "11231", "11320", "12110", "12181", "12220",
    "12230", "12240", "12261", "12281", "13020", "13030", "14010", "14015", "14020", "14021",
    "14022", "14030", "14031", "14032", "14050", "15110", "15111", "15112", "15130", "15150",
    "15170", "16010", "16020", "16050", "16061", "21020", "23230", "25030", "31120", "74020",
];
pub const DAY_MS: i64 = 86_400_000;
/// 2024-01-01: loading advances one day per commit group from here.
pub const FIRST_DAY_MS: i64 = 1_704_067_200_000;
/// The chain's name (its id ends with a hash of the genesis).
pub const CHAIN_NAME: &str = "tansiq-bench";
/// The seed of the ministry's key (`ministry.key`).
pub const MINISTRY_SEED: u8 = 1;
/// The country every P-code is under (not itself registered).
pub const COUNTRY: &str = "LY";
/// Where in a node's data directory the ledger is (`tansiq-node` opens
/// `DATA_DIR/db`).
pub const DB_DIR: &str = "db";
/// What was built, written last.
pub const MANIFEST_FILE: &str = "scale.json";

/// How much to build.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scale {
    pub municipalities: usize,
    pub projects: usize,
    pub donors: usize,
    /// Events per commit group while loading.
    pub group: usize,
}

impl Default for Scale {
    fn default() -> Scale {
        Scale {
            municipalities: 10_000,
            projects: 200_000,
            donors: 100,
            group: 2_000,
        }
    }
}

impl Scale {
    /// Top-level regions (100 municipalities each).
    pub fn regions(&self) -> usize {
        self.municipalities.div_ceil(100)
    }
}

/// A built data directory: its scale, and how long building it took.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub scale: Scale,
    pub events: usize,
    /// Commit groups (simulated days) after the first day.
    pub days: i64,
    pub load_seconds: f64,
}

impl Manifest {
    pub fn load_time(&self) -> Duration {
        Duration::from_secs_f64(self.load_seconds)
    }

    /// The manifest of a completely built directory, or None when `dir`
    /// holds none (never built, or building stopped before the end).
    pub fn read(dir: &Path) -> anyhow::Result<Option<Manifest>> {
        let path = dir.join(MANIFEST_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
        Ok(Some(serde_json::from_str(&text).with_context(|| {
            format!("{} is not a scale manifest", path.display())
        })?))
    }
}

/// A municipality's P-code: `LY` + its region's two digits + its index.
pub fn pcode(index: usize) -> String {
    format!("{COUNTRY}{:02}{:04}", index / 100 % 100, index)
}

/// A region's P-code (`LY00`..`LY99`).
pub fn region_pcode(region: usize) -> String {
    format!("{COUNTRY}{region:02}")
}

pub fn project_id(index: usize) -> String {
    format!("p{index}")
}

/// The ledger just built, open, with what building it took.
pub struct Built {
    pub ledger: Ledger,
    pub manifest: Manifest,
    /// The generator's random numbers, as building left them (the coverage
    /// benchmark draws its queries from it).
    pub rng: StdRng,
}

/// The ledger in `dir`: reopened when a previous run built it completely
/// (its own scale applies, not `scale`), else built now; says which on
/// stdout, and returns whether it was reused. A reused ledger's generator
/// is seeded afresh.
pub fn reuse_or_build(dir: &Path, scale: &Scale) -> anyhow::Result<(Built, bool)> {
    if let Some(manifest) = Manifest::read(dir)? {
        println!(
            "reusing the ledger in {} (built in {:.1} s)",
            dir.display(),
            manifest.load_seconds
        );
        let ledger = Ledger::open(&dir.join(DB_DIR), None)
            .with_context(|| format!("open the ledger in {}", dir.display()))?;
        let built = Built {
            ledger,
            manifest,
            rng: StdRng::seed_from_u64(2027),
        };
        return Ok((built, true));
    }
    if dir.join(DB_DIR).exists() {
        bail!(
            "{} holds a ledger without {MANIFEST_FILE}: its building did not finish; delete the directory",
            dir.display()
        );
    }
    println!("building the ledger in {} ...", dir.display());
    Ok((build(dir, scale)?, false))
}

/// Builds the ledger of `scale` into the node data directory `dir` (see
/// the module's documentation), which must not hold a ledger yet.
pub fn build(dir: &Path, scale: &Scale) -> anyhow::Result<Built> {
    for code in SECTORS {
        if SECTOR.active(code).is_none() {
            bail!("bench sector {code} is not an active DAC code");
        }
    }
    if dir.join(DB_DIR).exists() {
        bail!(
            "{} already holds a ledger: give another directory, or delete it to build anew",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let mut rng = StdRng::seed_from_u64(2026);

    let (ledger, mut ministry) =
        crate::open_test_ledger(&dir.join(DB_DIR), CHAIN_NAME, MINISTRY_SEED, FIRST_DAY_MS);
    std::fs::write(
        dir.join(tansiq_node::dev::GENESIS_FILE),
        GenesisFile::from_genesis(ledger.genesis()).to_json(),
    )
    .context("write the genesis file")?;
    KeyFile::new(
        &ministry.org,
        &ministry.key,
        "BENCH KEY of a generated benchmark chain; never use it on a real ledger",
    )
    .write(&dir.join(tansiq_node::dev::MINISTRY_KEY_FILE))?;

    let started = Instant::now();
    let mut loader = Loader {
        ledger: &ledger,
        pending: Vec::new(),
        group: scale.group,
        day: 0,
        events: 0,
    };
    for region in 0..scale.regions() {
        loader.push(
            ministry
                .sign(events::municipality(&region_pcode(region), "", 1), 0)
                .0,
        )?;
    }
    loader.flush()?;
    for index in 0..scale.municipalities {
        let code = pcode(index);
        loader.push(
            ministry
                .sign(events::municipality(&code, &code[..4], 2), 0)
                .0,
        )?;
    }
    let mut donors = Vec::with_capacity(scale.donors);
    for index in 0..scale.donors {
        let key = KeyPair::from_seed([(index % 250) as u8 + 2; 32]);
        let (registration, donor) =
            registered_donor(&mut ministry, &format!("donor-{index}"), key, 0);
        loader.push(registration)?;
        donors.push(donor);
    }
    for index in 0..scale.municipalities {
        let need = Kind::NeedAssessed(pb::NeedAssessed {
            pcode: pcode(index),
            sector: SECTORS[rng.gen_range(0..SECTORS.len())].into(),
            people_in_need: rng.gen_range(100..50_000),
            severity: rng.gen_range(1..=5),
            period_start: "2024-01-01".into(),
            period_end: "2030-12-31".into(),
            source: "bench".into(),
        });
        loader.push(ministry.sign(need, 0).0)?;
    }
    loader.flush()?;
    for project in 0..scale.projects {
        let donor = &mut donors[project % scale.donors];
        let id = project_id(project);
        let place = pcode(rng.gen_range(0..scale.municipalities));
        let sector = SECTORS[rng.gen_range(0..SECTORS.len())];
        let start = rng.gen_range(0..1_500);
        let start_day = Date::from_unix_ms(FIRST_DAY_MS + start * DAY_MS).to_string();
        let end_day = Date::from_unix_ms(FIRST_DAY_MS + (start + rng.gen_range(90..900)) * DAY_MS)
            .to_string();
        let mut details = events::details(
            &place,
            sector,
            "USD",
            &rng.gen_range(10_000..5_000_000).to_string(),
        );
        details.iati_identifier = format!("XM-BENCH-{id}");
        details.title = events::names(&format!("Project {project} for {place}"), "");
        details.planned_start = start_day.clone();
        details.planned_end = end_day;
        loader.push(donor.sign(events::project(&id, details.clone()), 0).0)?;
        details.budget = Some(pb::Money {
            value: "123456".into(),
            currency: "EUR".into(),
        });
        loader.push(
            donor
                .sign(
                    Kind::ProjectUpdated(pb::ProjectUpdated {
                        project_id: id.clone(),
                        details: Some(details),
                    }),
                    0,
                )
                .0,
        )?;
        loader.push(
            donor
                .sign(
                    Kind::ProjectStatusChanged(pb::ProjectStatusChanged {
                        project_id: id.clone(),
                        status: 2,
                        effective_date: start_day.clone(),
                    }),
                    0,
                )
                .0,
        )?;
        for tranche in ["3", "4"] {
            loader.push(
                donor
                    .sign(
                        Kind::TransactionRecorded(pb::TransactionRecorded {
                            project_id: id.clone(),
                            transaction_type: tranche.parse()?,
                            date: start_day.clone(),
                            value: Some(pb::Money {
                                value: "1000".into(),
                                currency: "USD".into(),
                            }),
                            provider_activity_id: String::new(),
                            description: String::new(),
                            receiver_org_id: String::new(),
                        }),
                        0,
                    )
                    .0,
            )?;
        }
    }
    loader.flush()?;
    let manifest = Manifest {
        scale: scale.clone(),
        events: loader.events,
        days: loader.day,
        load_seconds: started.elapsed().as_secs_f64(),
    };
    let path = dir.join(MANIFEST_FILE);
    std::fs::write(&path, serde_json::to_string_pretty(&manifest)?)
        .with_context(|| format!("write {}", path.display()))?;
    Ok(Built {
        ledger,
        manifest,
        rng,
    })
}

/// Commits events in groups, one simulated day per group.
struct Loader<'a> {
    ledger: &'a Ledger,
    pending: Vec<pb::SignedEvent>,
    group: usize,
    day: i64,
    events: usize,
}

impl Loader<'_> {
    fn push(&mut self, event: pb::SignedEvent) -> anyhow::Result<()> {
        self.pending.push(event);
        if self.pending.len() >= self.group {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let requests: Vec<Vec<pb::SignedEvent>> =
            self.pending.drain(..).map(|event| vec![event]).collect();
        let count = requests.len();
        for outcome in commit_group(self.ledger, requests, FIRST_DAY_MS + self.day * DAY_MS) {
            if let Err(rejection) = outcome {
                bail!("a bench event was refused: {rejection}");
            }
        }
        self.events += count;
        self.day += 1;
        Ok(())
    }
}
