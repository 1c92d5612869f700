//! Coverage at scale, in process (no network): builds a ledger of about a
//! million signed events — 10,000 municipalities, 40 sectors, 200,000
//! projects, each registered, updated, set to implementation and given two
//! transactions, plus one assessed need per municipality — through the same
//! append path as a node (decode, batch verification, one synced batch per
//! group), then measures:
//!
//! - who-supports latency (p50, p99) for random municipalities, with and
//!   without an as-of date;
//! - gaps and the coverage matrix over every municipality;
//! - projection rebuild from the log, in events per second (with and without
//!   re-verifying signatures);
//! - this process's resident memory, against the store's configured budget.
//!
//! Run it with `bench/coverage.sh` (dev profile, dependencies optimised).

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tansiq_ledger::append::rebuild;
use tansiq_ledger::author::Author;
use tansiq_ledger::coverage::{AsOf, Coverage};
use tansiq_ledger::date::Date;
use tansiq_ledger::event::codes::SECTOR;
use tansiq_ledger::event::Signatures;
use tansiq_ledger::ids::OrgId;
use tansiq_ledger::limits::{STORE_BLOCK_CACHE_BYTES, STORE_WRITE_BUFFER_BYTES};
use tansiq_ledger::signing::KeyPair;
use tansiq_ledger::Ledger;
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::event_body::Kind;
use tansiq_tests::{commit_group, events};

#[derive(Parser)]
#[command(about = "Coverage queries, rebuild and memory at a million events")]
struct Args {
    #[arg(long, default_value_t = 10_000)]
    municipalities: usize,
    #[arg(long, default_value_t = 200_000)]
    projects: usize,
    #[arg(long, default_value_t = 100)]
    donors: usize,
    /// Events per commit group while loading.
    #[arg(long, default_value_t = 2_000)]
    group: usize,
    /// who-supports queries to time.
    #[arg(long, default_value_t = 20_000)]
    queries: usize,
    /// Where to build the ledger (default: a temporary directory).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
}

/// 40 OECD DAC purpose codes across the sectors municipalities work in.
const SECTORS: [&str; 40] = [
    "11110", "11120", "11130", "11182", "11220", "11231", "11320", "12110", "12181", "12220",
    "12230", "12240", "12261", "12281", "13020", "13030", "14010", "14015", "14020", "14021",
    "14022", "14030", "14031", "14032", "14050", "15110", "15111", "15112", "15130", "15150",
    "15170", "16010", "16020", "16050", "16061", "21020", "23230", "25030", "31120", "74020",
];
const DAY_MS: i64 = 86_400_000;
/// 2024-01-01: loading advances one day per commit group from here.
const FIRST_DAY_MS: i64 = 1_704_067_200_000;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    for code in SECTORS {
        if SECTOR.active(code).is_none() {
            bail!("bench sector {code} is not an active DAC code");
        }
    }
    let scratch = tempfile::tempdir()?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| scratch.path().to_path_buf());
    let mut rng = StdRng::seed_from_u64(2026);

    let (ledger, mut ministry) =
        tansiq_tests::open_test_ledger(&dir.join("ledger"), "tansiq-bench", 1, FIRST_DAY_MS);
    let chain = ministry.chain.clone();

    // Load.
    let started = Instant::now();
    let mut loader = Loader {
        ledger: &ledger,
        pending: Vec::new(),
        group: args.group,
        day: 0,
        events: 0,
    };
    let regions = args.municipalities.div_ceil(100);
    let pcode = |index: usize| format!("LY{:02}{:04}", index / 100 % 100, index);
    for region in 0..regions {
        loader.push(
            ministry
                .sign(events::municipality(&format!("LY{region:02}"), "", 1), 0)
                .0,
        )?;
    }
    loader.flush()?;
    for index in 0..args.municipalities {
        let code = pcode(index);
        loader.push(
            ministry
                .sign(events::municipality(&code, &code[..4], 2), 0)
                .0,
        )?;
    }
    let mut donors = Vec::with_capacity(args.donors);
    for index in 0..args.donors {
        let key = KeyPair::from_seed([(index % 250) as u8 + 2; 32]);
        let name = format!("donor-{index}");
        loader.push(ministry.sign(events::register_donor(&name, &key), 0).0)?;
        donors.push(Author::new(
            chain.clone(),
            OrgId::parse(&name)?,
            key,
            0,
            None,
        ));
    }
    for index in 0..args.municipalities {
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
    for project in 0..args.projects {
        let donor = &mut donors[project % args.donors];
        let id = format!("p{project}");
        let place = pcode(rng.gen_range(0..args.municipalities));
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
                        }),
                        0,
                    )
                    .0,
            )?;
        }
    }
    loader.flush()?;
    let load = started.elapsed();
    let events = loader.events;
    let days = loader.day;
    println!(
        "tansiq-coverage-bench: {events} events ({} municipalities, {} sectors, {} projects, {} donors) loaded in {:.1} s = {:.0} events/s (sign + verify + commit, one process, {} cores)",
        args.municipalities,
        SECTORS.len(),
        args.projects,
        args.donors,
        load.as_secs_f64(),
        events as f64 / load.as_secs_f64(),
        std::thread::available_parallelism().map_or(1, usize::from),
    );
    println!("resident memory after load: {} MiB (store budget: block cache {} MiB, write buffers {} MiB inside it)",
        rss_mib()?, STORE_BLOCK_CACHE_BYTES >> 20, STORE_WRITE_BUFFER_BYTES >> 20);

    // who-supports.
    let now = AsOf::now(FIRST_DAY_MS + days * DAY_MS);
    let middle = AsOf::end_of(Date::from_unix_ms(FIRST_DAY_MS + days / 2 * DAY_MS));
    for (label, as_of) in [("now", now), ("as of mid-load", middle)] {
        let coverage = Coverage::new(ledger.store(), as_of);
        let mut latencies = Vec::with_capacity(args.queries);
        let mut found = 0;
        for _ in 0..args.queries {
            let place = pcode(rng.gen_range(0..args.municipalities));
            let asked = Instant::now();
            found += coverage.who_supports(&place, None, false)?.len();
            latencies.push(asked.elapsed());
        }
        latencies.sort_unstable();
        println!(
            "who-supports ({label}): {} queries, p50 {:.0} µs, p99 {:.0} µs, {:.1} supports per answer",
            args.queries,
            micros(latencies[latencies.len() / 2]),
            micros(latencies[latencies.len() * 99 / 100]),
            found as f64 / args.queries as f64
        );
    }

    let coverage = Coverage::new(ledger.store(), now);
    let asked = Instant::now();
    let gaps = coverage.gaps("")?;
    println!(
        "gaps over all {} municipalities x {} sectors: {} gaps in {:.2} s",
        args.municipalities,
        SECTORS.len(),
        gaps.len(),
        asked.elapsed().as_secs_f64()
    );
    let asked = Instant::now();
    let cells = coverage.matrix("")?;
    println!(
        "coverage matrix (municipality x category): {} cells in {:.2} s",
        cells.len(),
        asked.elapsed().as_secs_f64()
    );
    println!("resident memory after queries: {} MiB", rss_mib()?);

    // Rebuild.
    for verify in [false, true] {
        let target = dir.join(format!("rebuild-{verify}"));
        let started = Instant::now();
        let signatures = if verify {
            Signatures::Verify
        } else {
            Signatures::Unchecked
        };
        let rebuilt = rebuild(&ledger, &target, i64::MAX, signatures)?;
        let elapsed = started.elapsed();
        if rebuilt.tip()? != ledger.tip()? {
            bail!("the rebuild ended at another head");
        }
        println!(
            "rebuild from the log ({}): {events} events in {:.1} s = {:.0} events/s",
            if verify {
                "re-verifying every signature"
            } else {
                "trusting the local log"
            },
            elapsed.as_secs_f64(),
            events as f64 / elapsed.as_secs_f64()
        );
        drop(rebuilt);
        std::fs::remove_dir_all(&target).ok();
    }
    println!("resident memory at the end: {} MiB", rss_mib()?);
    Ok(())
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

fn rss_mib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS in /proc/self/status")?;
    Ok(kib / 1024)
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
