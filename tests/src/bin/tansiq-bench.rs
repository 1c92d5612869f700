//! Load generator: single-node durable throughput against this machine's
//! one-core ed25519 batch-verification rate, measured in the same run.
//!
//! It starts a real `tansiq-node --dev` (or uses `--node`), registers one donor
//! per client, pre-signs every event (so signing is not measured), then:
//!
//! 1. verifies all those signatures on this thread, in batches, with
//!    ed25519-dalek's `verify_batch`: the one-core rate, every ratio's
//!    anchor (and with the ledger's own verification, printed beside it;
//!    `tansiq_tests::anchor`);
//! 2. for each load shape, lets the clients submit concurrently, each waiting
//!    for its receipt before sending the next request (closed loop): committed
//!    events per second from the first send to the last receipt, and the
//!    median and 99th percentile of request latency.
//!
//! Every receipt is checked: an event that is not committed fails the run.
//! Run it with `bench/ingest.sh` (release-like dev profile, like the tests).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use tansiq_ledger::author::{now_ms, Author};
use tansiq_ledger::event::Event;
use tansiq_ledger::signing::ChainId;
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::ledger_client::LedgerClient;
use tansiq_tests::anchor::{self, VerifyRates};
use tansiq_tests::proc::{cpu_seconds, cpu_seconds_by_thread};
use tansiq_tests::{author, events, head, Node};
use tonic::transport::Channel;

#[derive(Parser)]
#[command(
    about = "Measure tansiq-node's durable ingest rate against one core's ed25519 batch verification"
)]
struct Args {
    /// Concurrent clients (each a donor with its own key).
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Events per client per load shape.
    #[arg(long, default_value_t = 2_000)]
    events_per_client: usize,
    /// Events per SubmitBatch request in the batched shape.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Events per signature-verification batch in the one-core measurement.
    #[arg(long, default_value_t = anchor::VERIFY_BATCH)]
    verify_batch: usize,
    /// Use a running node (its ministry key file must be given too) instead of starting one.
    #[arg(long, requires = "ministry_key")]
    node: Option<String>,
    #[arg(long)]
    ministry_key: Option<PathBuf>,
    /// Only the one-event-per-request shape (the shape etcd's `check perf` drives).
    #[arg(long, conflicts_with = "batched_only")]
    single_only: bool,
    /// Only the SubmitBatch shape (to load a large ledger quickly).
    #[arg(long)]
    batched_only: bool,
    /// Process ids of the nodes (Linux): also report the CPU time each
    /// node and this client spent per committed event while driving. A
    /// node the bench starts itself is measured without it, thread by
    /// thread.
    #[arg(long, value_delimiter = ',')]
    cpu_of: Vec<u32>,
}

/// The bench's municipalities: projects are spread over them and over
/// sectors, as real registrations are (the bench measures ingest, not the
/// overlap count of one crowded sector).
const BENCH_MUNICIPALITIES: usize = 200;

fn bench_pcode(index: usize) -> String {
    format!("LY99{:04}", index % BENCH_MUNICIPALITIES)
}
/// The sectors bench projects cycle through.
const BENCH_SECTORS: [&str; 8] = [
    "14030", "12220", "11220", "16010", "15112", "21020", "23230", "25030",
];

/// One client's pre-signed requests for one load shape.
type Requests = Vec<Vec<pb::SignedEvent>>;

struct Shape {
    name: &'static str,
    batch: usize,
    /// Issue 17's goal for this shape: events/s as a multiple of one
    /// core's verification rate.
    goal: f64,
}

struct Measured {
    events: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, q: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        sorted[((sorted.len() - 1) as f64 * q).round() as usize]
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let data_dir = tempfile::tempdir()?;
    let (node, url, ministry_key) = match (&args.node, &args.ministry_key) {
        (Some(url), Some(key)) => (None, url.clone(), key.clone()),
        _ => {
            // Every client has its own connection, all from 127.0.0.1: an
            // address may hold an eighth of --max-connections.
            let connections = ((args.clients + 64) * 8).max(1024).to_string();
            let node = Node::start_with(data_dir.path(), &["--max-connections", &connections]);
            let (url, key) = (node.url.clone(), node.ministry_key());
            (Some(node), url, key)
        }
    };
    let mut client = LedgerClient::connect(url.clone()).await?;
    let chain = ChainId::parse(&head(&mut client).await.chain_id)?;
    println!(
        "tansiq-bench: node {url}, {} clients, {} events per client per shape, {} cores\nbuild: {}",
        args.clients,
        args.events_per_client,
        std::thread::available_parallelism().map_or(1, usize::from),
        tansiq_tests::build_profile()
    );

    let mut donors = register_donors(&mut client, &ministry_key, args.clients).await?;
    let mut shapes = vec![
        Shape {
            name: "SubmitBatch",
            batch: args.batch,
            goal: 1.0,
        },
        Shape {
            name: "Submit (1 event per request)",
            batch: 1,
            goal: 0.25,
        },
    ];
    if args.single_only {
        shapes.remove(0);
    }
    if args.batched_only {
        shapes.truncate(1);
    }
    let signing = Instant::now();
    let workloads: Vec<Vec<Requests>> = shapes
        .iter()
        .map(|shape| presign(&mut donors, shape, args.events_per_client))
        .collect();
    let presigned: Vec<&pb::SignedEvent> = workloads.iter().flatten().flatten().flatten().collect();
    println!(
        "pre-signed {} events in {:.1} s; a signed event is {} bytes on the wire on average",
        presigned.len(),
        signing.elapsed().as_secs_f64(),
        presigned
            .iter()
            .map(|event| prost::Message::encoded_len(*event))
            .sum::<usize>()
            / presigned.len().max(1)
    );

    let rates = one_core_verify_rates(&chain, &workloads, args.verify_batch)?;
    rates.print(args.verify_batch);
    let verify_rate = rates.library;

    println!(
        "{:<30} {:>10} {:>12} {:>10} {:>10} {:>8}",
        "load shape", "events", "events/s", "p50 ms", "p99 ms", "ratio"
    );
    let measured_pids = match &node {
        Some(node) if args.cpu_of.is_empty() => vec![node.pid()],
        _ => args.cpu_of.clone(),
    };
    let own_node = node.as_ref().map(Node::pid);
    for (shape, workload) in shapes.iter().zip(workloads) {
        let cpu_before = CpuTimes::read(&measured_pids);
        let threads_before = own_node.and_then(cpu_seconds_by_thread);
        let groups_before = commit_groups(&mut client).await?;
        let measured = drive(&url, workload).await?;
        let groups = commit_groups(&mut client).await? - groups_before;
        let cpu =
            cpu_before.and_then(|before| Some(CpuTimes::read(&measured_pids)?.since(&before)));
        let threads = threads_before.and_then(|before| {
            let after = cpu_seconds_by_thread(own_node?)?;
            Some(ThreadTimes::between(&before, &after))
        });
        println!(
            "{:<30} {:>10} {:>12.0} {:>10.1} {:>10.1} {:>8.2}",
            format!(
                "{} ({} clients x {})",
                shape.name, args.clients, shape.batch
            ),
            measured.events,
            measured.rate(),
            measured.percentile(0.50).as_secs_f64() * 1e3,
            measured.percentile(0.99).as_secs_f64() * 1e3,
            measured.rate() / verify_rate
        );
        if let Some(cpu) = &cpu {
            cpu.print_per_event(measured.events);
        }
        if let Some(threads) = &threads {
            threads.print_per_event(measured.events);
        }
        if let (Some(cpu), Some(threads)) = (&cpu, &threads) {
            print_budget(shape.goal, verify_rate, cpu, threads, measured.events);
        }
        // A cluster member commits through Raft, not commit groups: it
        // counts none, and there is nothing to say.
        if groups > 0 {
            println!(
                "  {} commit groups, {:.1} events per group",
                groups,
                measured.events as f64 / groups as f64
            );
        }
    }
    println!("ratio = durable committed events/s divided by one core's verification rate");
    drop(node);
    Ok(())
}

/// The commit groups the node wrote since it started (GetStatus).
async fn commit_groups(client: &mut LedgerClient<Channel>) -> anyhow::Result<u64> {
    Ok(client
        .get_status(pb::GetStatusRequest {})
        .await?
        .into_inner()
        .commit_groups)
}

/// Registers the bench municipality (if new) and one donor per client,
/// signed by the ministry; returns the donors' authors.
async fn register_donors(
    client: &mut LedgerClient<Channel>,
    ministry_key: &std::path::Path,
    count: usize,
) -> anyhow::Result<Vec<Author>> {
    let mut ministry = author(client, ministry_key).await;
    let mut municipalities = vec![
        ministry
            .sign(events::municipality("LY99", "", 1), now_ms())
            .0,
    ];
    for index in 0..BENCH_MUNICIPALITIES {
        let pcode = bench_pcode(index);
        municipalities.push(
            ministry
                .sign(events::municipality(&pcode, "LY99", 2), now_ms())
                .0,
        );
    }
    // Refused as already registered when a running node was benchmarked before.
    let _ = client
        .submit_batch(pb::SubmitBatchRequest {
            events: municipalities,
        })
        .await;
    let mut ministry = author(client, ministry_key).await;
    let run = now_ms();
    let (registrations, donors) = tansiq_ledger::testing::registered_donors(
        &mut ministry,
        (0..count).map(|index| format!("bench-{run}-{index}")),
        now_ms(),
    );
    client
        .submit_batch(pb::SubmitBatchRequest {
            events: registrations,
        })
        .await
        .context("register the bench donors")?;
    Ok(donors)
}

/// Signs each donor's next events for `shape`, grouped into requests.
fn presign(donors: &mut [Author], shape: &Shape, events_per_client: usize) -> Vec<Requests> {
    let tag = now_ms();
    donors
        .iter_mut()
        .enumerate()
        .map(|(client, donor)| {
            let signed: Vec<pb::SignedEvent> = (0..events_per_client)
                .map(|n| {
                    let project = format!("bench-{tag}-{}-{client}-{n}", shape.batch);
                    // Spread over sectors, as real registrations are: the
                    // bench measures ingest, not one sector's overlap count.
                    // (Indexed by client and event: indexing by the event
                    // alone had put every project in 3 municipalities.)
                    let spread = client * events_per_client + n;
                    let sector = BENCH_SECTORS[spread % BENCH_SECTORS.len()];
                    let pcode = bench_pcode(spread / BENCH_SECTORS.len());
                    let mut details = events::details(&pcode, sector, "EUR", "250000");
                    details.iati_identifier = format!("XM-BENCH-{project}");
                    donor.sign(events::project(&project, details), now_ms()).0
                })
                .collect();
            signed
                .chunks(shape.batch)
                .map(<[pb::SignedEvent]>::to_vec)
                .collect()
        })
        .collect()
}

/// One core's verification of every pre-signed event, in batches of
/// `batch`: the library's rate (the anchor) and the ledger's.
fn one_core_verify_rates(
    chain: &ChainId,
    workloads: &[Vec<Requests>],
    batch: usize,
) -> anyhow::Result<VerifyRates> {
    let decoded: Vec<Event> = workloads
        .iter()
        .flatten()
        .flatten()
        .flatten()
        .map(|signed| Event::decode(chain, signed.clone()))
        .collect::<Result<_, _>>()?;
    let decoded: Vec<&Event> = decoded.iter().collect();
    anchor::one_core_verify_rates(chain, &decoded, batch)
}

/// CPU seconds (user + system) of the nodes named by `--cpu-of`, and of this
/// client, from `/proc/PID/stat` (Linux; None elsewhere or without pids).
struct CpuTimes {
    nodes: Vec<(u32, f64)>,
    client: f64,
}

impl CpuTimes {
    fn read(pids: &[u32]) -> Option<CpuTimes> {
        if pids.is_empty() {
            return None;
        }
        let nodes = pids
            .iter()
            .map(|pid| Some((*pid, cpu_seconds(&pid.to_string())?)))
            .collect::<Option<Vec<_>>>()?;
        Some(CpuTimes {
            nodes,
            client: cpu_seconds("self")?,
        })
    }

    fn since(self, before: &CpuTimes) -> CpuTimes {
        CpuTimes {
            nodes: self
                .nodes
                .iter()
                .zip(&before.nodes)
                .map(|((pid, after), (_, earlier))| (*pid, after - earlier))
                .collect(),
            client: self.client - before.client,
        }
    }

    fn print_per_event(&self, events: usize) {
        let micros = |seconds: f64| seconds * 1e6 / events.max(1) as f64;
        let mut parts: Vec<String> = self
            .nodes
            .iter()
            .map(|(pid, seconds)| format!("node pid {pid} {:.0}", micros(*seconds)))
            .collect();
        parts.push(format!("client {:.0}", micros(self.client)));
        let total: f64 = self.nodes.iter().map(|(_, s)| s).sum::<f64>() + self.client;
        println!(
            "CPU per committed event, microseconds (user + system): {}; total {:.0}",
            parts.join(", "),
            micros(total)
        );
    }
}

/// The CPU seconds each of the node's thread names spent between two reads.
struct ThreadTimes(Vec<(String, f64)>);

impl ThreadTimes {
    fn between(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> ThreadTimes {
        let mut spent: Vec<(String, f64)> = after
            .iter()
            .map(|(name, seconds)| {
                let earlier = before.get(name).copied().unwrap_or(0.0);
                (name.clone(), (seconds - earlier).max(0.0))
            })
            .filter(|(_, seconds)| *seconds > 0.0)
            .collect();
        spent.sort_by(|a, b| b.1.total_cmp(&a.1));
        ThreadTimes(spent)
    }

    /// The node's CPU per event by thread, and the rate its one writer
    /// thread allows: the writer applies every group in order, alone, so
    /// no number of cores takes a node past it.
    fn print_per_event(&self, events: usize) {
        let micros = |seconds: f64| seconds * 1e6 / events.max(1) as f64;
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(name, seconds)| format!("{name} {:.1}", micros(*seconds)))
            .collect();
        println!(
            "  node CPU per event by thread, microseconds: {}",
            parts.join(", ")
        );
        if let Some((_, writer)) = self.0.iter().find(|(name, _)| name == "tansiq-write") {
            println!(
                "  the writer thread alone allows at most {:.0} events/s",
                1e6 / micros(*writer).max(f64::MIN_POSITIVE)
            );
        }
    }
}

/// What the shape's goal leaves for everything but verification, beside
/// what it took. At `goal` times one core's verification rate, verifying
/// takes `goal` cores; the machine's other cores must carry everything
/// else: the node's other work and this client, which runs on the same
/// machine. The node's verification is counted at the anchor's cost per
/// signature, which is what the goal allows it (the node's own
/// verification may cost less: the ledger's rate is printed beside the
/// anchor's): the node's threads cannot tell verification apart, since a
/// large group is verified on helper threads that end with it, whose time
/// the per-thread line above misses (it is in the node's total, and named
/// here).
fn print_budget(goal: f64, verify_rate: f64, cpu: &CpuTimes, threads: &ThreadTimes, events: usize) {
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    let budget = (cores - goal).max(0.0) / (goal * verify_rate) * 1e6;
    let micros = |seconds: f64| seconds * 1e6 / events.max(1) as f64;
    let node = micros(cpu.nodes.iter().map(|(_, seconds)| seconds).sum());
    let listed = micros(threads.0.iter().map(|(_, seconds)| seconds).sum());
    let verifying = 1e6 / verify_rate;
    let rest = node - verifying + micros(cpu.client);
    println!(
        "  node CPU {node:.1} µs per event, {:.1} of it on threads that ended meanwhile",
        (node - listed).max(0.0)
    );
    println!(
        "  at the goal ({goal} x one core) on this machine's {cores} cores, all but verification may take {budget:.1} µs per event; it took {rest:.1} (the node's {node:.1} less {verifying:.1} for verification at the anchor's rate, plus this client's {:.1}), {:.1} x the budget",
        micros(cpu.client),
        rest / budget.max(f64::MIN_POSITIVE)
    );
}

/// Each client submits its requests one after another; all clients at once.
async fn drive(url: &str, workload: Vec<Requests>) -> anyhow::Result<Measured> {
    let mut clients = Vec::with_capacity(workload.len());
    for _ in &workload {
        clients.push(LedgerClient::connect(url.to_owned()).await?);
    }
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(workload.len());
    for (mut client, requests) in clients.into_iter().zip(workload) {
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(requests.len());
            let mut committed = 0;
            for events in requests {
                let count = events.len();
                let sent = Instant::now();
                let receipts = if count == 1 {
                    let event = events.into_iter().next();
                    vec![client
                        .submit(pb::SubmitRequest { event })
                        .await?
                        .into_inner()]
                } else {
                    client
                        .submit_batch(pb::SubmitBatchRequest { events })
                        .await?
                        .into_inner()
                        .receipts
                };
                latencies.push(sent.elapsed());
                if receipts.len() != count || receipts.iter().any(|receipt| receipt.duplicate) {
                    bail!("expected {count} new receipts, got {receipts:?}");
                }
                committed += count;
            }
            Ok::<_, anyhow::Error>((committed, latencies))
        }));
    }
    let mut measured = Measured {
        events: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for task in tasks {
        let (committed, latencies) = task.await??;
        measured.events += committed;
        measured.latencies.extend(latencies);
    }
    measured.elapsed = started.elapsed();
    Ok(measured)
}
