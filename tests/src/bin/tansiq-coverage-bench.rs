//! Coverage at scale, in process (no network): builds a ledger of about a
//! million signed events — 10,000 municipalities, 40 sectors, 200,000
//! projects, each registered, updated, set to implementation and given two
//! transactions, plus one assessed need per municipality — through the same
//! append path as a node (decode, batch verification, one synced batch per
//! group; the generator is `tansiq_tests::scale`, shared with
//! `tansiq-console-bench`), then measures:
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
use rand::Rng;
use tansiq_ledger::append::rebuild;
use tansiq_ledger::coverage::{AsOf, Coverage};
use tansiq_ledger::date::Date;
use tansiq_ledger::event::{Event, Signatures};
use tansiq_ledger::limits::{STORE_BLOCK_CACHE_BYTES, STORE_WRITE_BUFFER_BYTES};
use tansiq_tests::anchor::{self, VerifyRates};
use tansiq_tests::proc::cpu_seconds;
use tansiq_tests::scale::{self, pcode, Scale, DAY_MS, FIRST_DAY_MS, SECTORS};

/// The node's allocator (node/src/main.rs): the ledger's code runs here in
/// process, and its speed and memory depend on the allocator. With glibc's,
/// freeing on the rebuild's writer thread what its reader thread allocated
/// was 6% of a rebuild's samples.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Where to build the ledger, as a node's data directory that
    /// `tansiq-node --data-dir DIR` opens (default: a temporary directory).
    /// A ledger a previous run built there completely is reused (its
    /// scale, not the flags', applies; the load figure is that run's).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    /// Stop after the queries: no rebuilds.
    #[arg(long)]
    queries_only: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let scratch = tempfile::tempdir()?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| scratch.path().to_path_buf());
    let (
        scale::Built {
            ledger,
            manifest,
            mut rng,
        },
        reused,
    ) = scale::reuse_or_build(
        &dir,
        &Scale {
            municipalities: args.municipalities,
            projects: args.projects,
            donors: args.donors,
            group: args.group,
        },
    )?;
    let scale = &manifest.scale;
    let load = manifest.load_time();
    let events = manifest.events;
    let days = manifest.days;
    println!(
        "tansiq-coverage-bench: {events} events ({} municipalities, {} sectors, {} projects, {} donors) loaded{} in {:.1} s = {:.0} events/s (sign + verify + commit, one process, {} cores)",
        scale.municipalities,
        SECTORS.len(),
        scale.projects,
        scale.donors,
        if reused { " by the run that built them" } else { "" },
        load.as_secs_f64(),
        events as f64 / load.as_secs_f64(),
        std::thread::available_parallelism().map_or(1, usize::from),
    );
    println!("build: {}", tansiq_tests::build_profile());
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
            let place = pcode(rng.gen_range(0..scale.municipalities));
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
        scale.municipalities,
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

    if args.queries_only {
        return Ok(());
    }
    // Rebuild, beside its anchor: one core's batch verification of the
    // ledger's own events.
    let rates = one_core_verify_rates(&ledger, 50_000)?;
    rates.print(anchor::VERIFY_BATCH);
    let verify_rate = rates.library;
    for verify in [false, true] {
        let target = dir.join(format!("rebuild-{verify}"));
        let cpu_before = cpu_seconds("self").context("CPU time from /proc")?;
        let started = Instant::now();
        let signatures = if verify {
            Signatures::Verify
        } else {
            Signatures::Unchecked
        };
        let rebuilt = rebuild(&ledger, &target, i64::MAX, signatures)?;
        let elapsed = started.elapsed();
        let cpu = cpu_seconds("self").context("CPU time from /proc")? - cpu_before;
        if rebuilt.tip()? != ledger.tip()? {
            bail!("the rebuild ended at another head");
        }
        let rate = events as f64 / elapsed.as_secs_f64();
        println!(
            "rebuild from the log ({}): {events} events in {:.1} s = {rate:.0} events/s, {:.2} x one core's verification; CPU {:.1} µs per event",
            if verify {
                "re-verifying every signature"
            } else {
                "trusting the local log"
            },
            elapsed.as_secs_f64(),
            rate / verify_rate,
            cpu * 1e6 / events as f64,
        );
        if !verify {
            // A floor under any rebuild that writes these records through
            // RocksDB: the same pairs written again, nothing staged.
            let (pairs, bytes, spent) =
                tansiq_ledger::testing::rewrite_time(&rebuilt, &dir.join("rewrite"), events as u64);
            println!(
                "its {pairs} pairs ({} MiB) written again into a new store, in key order, in batches of as many as one rebuild chunk's events make, nothing staged: {:.1} s = {:.0} events/s",
                bytes >> 20,
                spent.as_secs_f64(),
                events as f64 / spent.as_secs_f64()
            );
            std::fs::remove_dir_all(dir.join("rewrite")).ok();
            let (read, fetching, decoding) = tansiq_ledger::testing::reread_time(&rebuilt);
            let spent = fetching + decoding;
            println!(
                "its log read again as a rebuild reads it (on one thread, nothing verified or applied): {read} events in {:.1} s = {:.0} events/s; per event {:.1} µs reading (the log in order, each entry with its event), {:.1} µs decoding",
                spent.as_secs_f64(),
                read as f64 / spent.as_secs_f64(),
                micros(fetching) / read.max(1) as f64,
                micros(decoding) / read.max(1) as f64,
            );
        }
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

/// One core's verification of the ledger's first `count` events, in
/// batches of `anchor::VERIFY_BATCH` (as `tansiq-bench`'s by default): the library's
/// rate (the anchor) and the ledger's.
fn one_core_verify_rates(
    ledger: &tansiq_ledger::Ledger,
    count: u64,
) -> anyhow::Result<VerifyRates> {
    let decoded = tansiq_ledger::testing::logged_events(ledger, count);
    let events: Vec<&Event> = decoded.iter().collect();
    anchor::one_core_verify_rates(ledger.chain(), &events, anchor::VERIFY_BATCH)
}
