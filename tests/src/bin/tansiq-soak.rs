//! Fault soak: a real cluster (3 voters and a donor site's learner, linked
//! through cuttable TCP proxies) under a stream of signed submissions and
//! linearizable reads, while a seeded scheduler injects faults one at a time:
//! `kill -9` and restart, a partition (every link of one member cut, then
//! healed), a clean restart (SIGTERM), a full disk (the member's data on a
//! small tmpfs, shrunk to what it holds; then freed and the member
//! restarted), and a clock jump (the member restarted under libfaketime with
//! its wall clock an hour ahead or minutes behind, then restarted normally).
//! At most one member is faulted at a time, so a majority of the voters is
//! always up and connected.
//!
//! At the end it heals everything, waits (bounded) for the members to
//! converge, and checks what the cluster guarantees:
//!
//! - every acknowledged event is on every member's log exactly once, at the
//!   position its receipt named, with the head its receipt named;
//! - every member has the same log and head (and `tansiq verify` passes);
//! - each reader's linearizable reads never went backwards, and none
//!   reflected less than what was acknowledged before it was sent.
//!
//! Not a test: nothing about time is asserted (throughput varies with the
//! machine). Exits 1 when a property is violated, 2 when the soak itself
//! could not run. Run it with `bench/soak.sh [MINUTES] [SEED]`, which also
//! sets up the clock jumps (`--clock-dir`); without that directory, clock
//! jumps are left out and the summary says so.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tansiq_ledger::author::{now_ms, Author};
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::coverage_client::CoverageClient;
use tansiq_proto::v1::ledger_client::LedgerClient;
use tansiq_tests::cluster::{self, Links, Member};
use tansiq_tests::disk::SmallDisk;
use tansiq_tests::{events, Acknowledged};
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

#[derive(Parser)]
#[command(
    about = "Fault soak of a Tansiq cluster: faults while clients write and read; \
                   checks that nothing acknowledged is lost and linearizable reads hold"
)]
struct Args {
    /// How long faults are injected while clients run.
    #[arg(long, default_value_t = 3.0)]
    minutes: f64,
    /// Seed of the fault schedule (and of the clients' choices); default:
    /// from the clock, printed.
    #[arg(long)]
    seed: Option<u64>,
    /// Concurrent donors submitting (each its own key, its events in sequence).
    #[arg(long, default_value_t = 4)]
    donors: usize,
    /// Concurrent readers doing linearizable reads.
    #[arg(long, default_value_t = 2)]
    readers: usize,
    /// Bound on the wait for the members to converge at the end, seconds.
    #[arg(long, default_value_t = 180)]
    converge_seconds: u64,
    /// Where the `tansiq-node` wrapper of bench/soak.sh reads each member's
    /// clock offset (file `node-ID`, e.g. `+1h`); without it, no clock jumps.
    #[arg(long)]
    clock_dir: Option<PathBuf>,
    /// On FAIL, copy the members' logs here (default: a new directory in
    /// the system's temporary directory, printed).
    #[arg(long)]
    keep_logs: Option<PathBuf>,
}

const VOTERS: usize = 3;
const MEMBERS: u64 = 4;
/// The donor site's node (a learner).
const LEARNER: u64 = 4;
/// The municipality linearizable reads ask about (no project there: small answers).
const READ_PCODE: &str = "LY0102";
/// Projects are spread over these municipalities and sectors (a crowded
/// cell would only measure the overlap computation).
const PROJECT_PCODES: u32 = 40;
const SECTORS: [&str; 7] = [
    "14030", "12220", "11220", "16010", "21020", "23230", "25030",
];
/// The full-disk member's tmpfs when it is not full (tmpfs reserves nothing).
const DISK_MIB: u32 = 4096;
const SUBMIT_TIMEOUT: Duration = Duration::from_secs(20);
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client follows an "accepted, pending" receipt on the donor
/// site before it resubmits elsewhere (resubmitting is always safe).
const FOLLOW_PENDING: Duration = Duration::from_secs(60);
/// Bound on a faulted member answering again after its fault is healed.
const HEAL_BOUND: Duration = Duration::from_secs(45);

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tansiq-soak: cannot start the runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let outcome = runtime.block_on(run(args));
    // Every task (and with it every member process, proxy and temporary
    // directory it holds) is dropped here.
    drop(runtime);
    match outcome {
        Ok(Outcome::Pass) => ExitCode::SUCCESS,
        Ok(Outcome::Fail) => ExitCode::from(1),
        Err(error) => {
            eprintln!("tansiq-soak: the soak could not run: {error:#}");
            ExitCode::from(2)
        }
    }
}

enum Outcome {
    Pass,
    Fail,
}

/// What every task shares: the clock, the stop flag, what was acknowledged
/// and what went wrong.
struct Shared {
    started: Instant,
    stop: AtomicBool,
    interrupted: AtomicBool,
    acknowledged: Mutex<Acknowledged>,
    /// The highest acknowledged position (a linearizable read sent after
    /// it was acknowledged must reflect at least it).
    max_acknowledged: AtomicU64,
    violations: Mutex<Vec<String>>,
    /// Not a guarantee broken, but worth a look (a member that crashed, a
    /// refusal to stop on SIGTERM, ...).
    anomalies: Mutex<Vec<String>>,
    counters: Mutex<Counters>,
}

#[derive(Default)]
struct Counters {
    acknowledged: u64,
    via_outbox: u64,
    duplicates: u64,
    abandoned: u64,
    submit_errors: BTreeMap<String, u64>,
    reads: u64,
    read_errors: BTreeMap<String, u64>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in a blocking member operation poisons nothing we rely on.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn new() -> Shared {
        Shared {
            started: Instant::now(),
            stop: AtomicBool::new(false),
            interrupted: AtomicBool::new(false),
            acknowledged: Mutex::default(),
            max_acknowledged: AtomicU64::new(0),
            violations: Mutex::default(),
            anomalies: Mutex::default(),
            counters: Mutex::default(),
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// A line of the soak's log: seconds since the start and UTC wall time.
    fn log(&self, message: &str) {
        println!(
            "[{:>7.1}s {}] {message}",
            self.started.elapsed().as_secs_f64(),
            utc_clock()
        );
    }

    fn violation(&self, message: String) {
        self.log(&format!("VIOLATION: {message}"));
        lock(&self.violations).push(message);
    }

    fn anomaly(&self, message: String) {
        self.log(&format!("anomaly: {message}"));
        lock(&self.anomalies).push(message);
    }

    /// Records a committed receipt of `expected_id`.
    fn acknowledge(&self, expected_id: &[u8], receipt: &pb::Receipt, via_outbox: bool) {
        if receipt.event_id != expected_id {
            self.violation(format!(
                "a receipt for event {} names event {}",
                hex::encode(expected_id),
                hex::encode(&receipt.event_id)
            ));
            return;
        }
        if receipt.state != pb::ReceiptState::Committed as i32
            || receipt.position == 0
            || receipt.head.is_empty()
        {
            self.violation(format!(
                "a committed receipt without a position or head: {receipt:?}"
            ));
            return;
        }
        let previous = lock(&self.acknowledged).insert(
            receipt.event_id.clone(),
            (receipt.position, receipt.head.clone()),
        );
        if let Some((position, head)) = previous {
            if position != receipt.position || head != receipt.head {
                self.violation(format!(
                    "event {} was acknowledged at position {position} (head {}) and again at position {} (head {})",
                    hex::encode(&receipt.event_id),
                    hex::encode(head),
                    receipt.position,
                    hex::encode(&receipt.head)
                ));
            }
        }
        self.max_acknowledged
            .fetch_max(receipt.position, Ordering::SeqCst);
        let mut counters = lock(&self.counters);
        counters.acknowledged += 1;
        counters.via_outbox += u64::from(via_outbox);
        counters.duplicates += u64::from(receipt.duplicate);
    }

    fn submit_error(&self, code: Code) {
        *lock(&self.counters)
            .submit_errors
            .entry(format!("{code:?}"))
            .or_default() += 1;
    }
}

/// `HH:MM:SS.mmmZ`, now.
fn utc_clock() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = now.as_secs();
    format!(
        "{:02}:{:02}:{:02}.{:03}Z",
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
        now.subsec_millis()
    )
}

/// Sleeps `duration`, or less when the soak stops; whether it stopped.
async fn pause(shared: &Shared, duration: Duration) -> bool {
    let end = Instant::now() + duration;
    loop {
        if shared.stopped() {
            return true;
        }
        let now = Instant::now();
        if now >= end {
            return false;
        }
        tokio::time::sleep((end - now).min(Duration::from_millis(200))).await;
    }
}

fn channel(url: &str) -> Result<Channel> {
    Ok(Endpoint::from_shared(url.to_owned())
        .context("a member URL")?
        .connect_timeout(Duration::from_secs(2))
        .connect_lazy())
}

/// Codes after which a client tries again (elsewhere): the member is down,
/// cut off, not leading, installing a snapshot, or out of disk space.
fn retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Unknown
            | Code::Cancelled
            | Code::Aborted
            | Code::ResourceExhausted
            | Code::Internal
    )
}

// ---------------------------------------------------------------------------
// Clients

/// One donor: signs its next project, submits that same signed event until
/// it is acknowledged (to random members), then the next.
async fn donor_loop(
    index: usize,
    mut donor: Author,
    urls: Arc<Vec<String>>,
    shared: Arc<Shared>,
    seed: u64,
) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let channels: Vec<Channel> = urls.iter().map(|url| channel(url)).collect::<Result<_>>()?;
    for n in 0u64.. {
        if shared.stopped() {
            return Ok(());
        }
        let pcode = format!("LY01{:02}", 10 + n % u64::from(PROJECT_PCODES));
        let sector = SECTORS[(n as usize + index) % SECTORS.len()];
        let mut details = events::details(&pcode, sector, "EUR", "1000");
        details.iati_identifier = format!("XM-SOAK-{index}-{n}");
        let (event, id) = donor.sign(
            events::project(&format!("soak-{index}-{n}"), details),
            now_ms(),
        );
        let id = id.0.to_vec();
        if !acknowledge(&event, &id, &channels, &shared, &mut rng).await {
            return Ok(());
        }
    }
    Ok(())
}

/// Submits `event` until acknowledged (true) or the soak stops (false). A
/// refusal of this valid event is a violation, reported once; the event is
/// submitted again after it (the donor must not break its chain).
async fn acknowledge(
    event: &pb::SignedEvent,
    id: &[u8],
    channels: &[Channel],
    shared: &Shared,
    rng: &mut StdRng,
) -> bool {
    let mut refused = false;
    loop {
        if shared.stopped() {
            lock(&shared.counters).abandoned += 1;
            return false;
        }
        let member = rng.gen_range(0..channels.len());
        let mut client = LedgerClient::new(channels[member].clone());
        let mut request = tonic::Request::new(pb::SubmitRequest {
            event: Some(event.clone()),
        });
        request.set_timeout(SUBMIT_TIMEOUT);
        match client.submit(request).await {
            Ok(receipt) => {
                let receipt = receipt.into_inner();
                if receipt.state == pb::ReceiptState::AcceptedPending as i32 {
                    if let Some(committed) = follow_pending(&mut client, id, shared).await {
                        shared.acknowledge(id, &committed, true);
                        return true;
                    }
                } else {
                    shared.acknowledge(id, &receipt, false);
                    return true;
                }
            }
            Err(status) if retryable(status.code()) => {
                shared.submit_error(status.code());
                if status.code() == Code::Internal {
                    shared.anomaly(format!(
                        "member {} answered a submission with Internal: {}",
                        member + 1,
                        status.message()
                    ));
                }
                tokio::time::sleep(Duration::from_millis(rng.gen_range(50..250))).await;
            }
            Err(status) => {
                shared.submit_error(status.code());
                if !refused {
                    shared.violation(format!(
                        "member {} refused a valid event {} (the donor's next in sequence): {:?}: {}",
                        member + 1,
                        hex::encode(id),
                        status.code(),
                        status.message()
                    ));
                }
                // Keep the donor going (the same event, a little later): the
                // refusal is reported once, and the run goes on.
                refused = true;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Follows an "accepted, pending" receipt on the member that gave it until
/// the event is on its log: that entry is the receipt. None: give up here
/// (the member went away, or it took too long) and resubmit.
async fn follow_pending(
    client: &mut LedgerClient<Channel>,
    id: &[u8],
    shared: &Shared,
) -> Option<pb::Receipt> {
    let deadline = Instant::now() + FOLLOW_PENDING;
    loop {
        if shared.stopped() {
            return None;
        }
        let mut request = tonic::Request::new(pb::GetEventRequest {
            event_id: id.to_vec(),
        });
        request.set_timeout(READ_TIMEOUT);
        match client.get_event(request).await {
            Ok(entry) => {
                let entry = entry.into_inner();
                return Some(pb::Receipt {
                    event_id: entry.event_id,
                    position: entry.position,
                    head: entry.head,
                    state: pb::ReceiptState::Committed as i32,
                    committed_at_ms: entry.committed_at_ms,
                    ..Default::default()
                });
            }
            Err(status) if status.code() == Code::NotFound => {}
            Err(_) => return None,
        }
        if Instant::now() > deadline {
            shared.anomaly(format!(
                "event {} accepted pending by the donor site was not on its log within {} s; resubmitting elsewhere",
                hex::encode(id),
                FOLLOW_PENDING.as_secs()
            ));
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Linearizable reads against random members: the positions one reader
/// sees never go back, and never fall below what was acknowledged before
/// the read was sent.
async fn reader_loop(
    reader: usize,
    urls: Arc<Vec<String>>,
    shared: Arc<Shared>,
    seed: u64,
) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let channels: Vec<Channel> = urls.iter().map(|url| channel(url)).collect::<Result<_>>()?;
    let mut last: Option<(u64, usize)> = None;
    while !shared.stopped() {
        let member = rng.gen_range(0..channels.len());
        let floor = shared.max_acknowledged.load(Ordering::SeqCst);
        let mut request = tonic::Request::new(pb::WhoSupportsRequest {
            count: 0,
            scope: Some(pb::Scope {
                pcode: READ_PCODE.into(),
                as_of: String::new(),
                consistency: pb::ReadConsistency::Linearizable as i32,
            }),
            sector: String::new(),
            include_children: false,
        });
        request.set_timeout(READ_TIMEOUT);
        match CoverageClient::new(channels[member].clone())
            .who_supports(request)
            .await
        {
            Ok(answer) => {
                let info = answer.into_inner().info.unwrap_or_default();
                lock(&shared.counters).reads += 1;
                if !info.linearizable {
                    shared.violation(format!(
                        "reader {reader}: member {} answered a linearizable read without saying it was linearizable (position {})",
                        member + 1,
                        info.position
                    ));
                }
                if let Some((previous, from)) = last {
                    if info.position < previous {
                        shared.violation(format!(
                            "reader {reader}: linearizable read went back from position {previous} (member {}) to {} (member {})",
                            from + 1,
                            info.position,
                            member + 1
                        ));
                    }
                }
                if info.position < floor {
                    shared.violation(format!(
                        "reader {reader}: member {} answered a linearizable read at position {} although position {floor} was acknowledged before the read was sent",
                        member + 1,
                        info.position
                    ));
                }
                last = Some((info.position.max(last.map_or(0, |l| l.0)), member));
            }
            Err(status) => {
                *lock(&shared.counters)
                    .read_errors
                    .entry(format!("{:?}", status.code()))
                    .or_default() += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(10..60))).await;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Faults

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Fault {
    Kill9,
    Partition,
    Restart,
    DiskFull,
    ClockJump,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::Kill9 => "kill-9",
            Fault::Partition => "partition",
            Fault::Restart => "restart (SIGTERM)",
            Fault::DiskFull => "disk-full",
            Fault::ClockJump => "clock-jump",
        }
    }
}

/// One member's data directory on a tmpfs that can be filled.
struct FullDisk {
    disk: SmallDisk,
    member: u64,
}

impl FullDisk {
    fn mount_point(&self) -> PathBuf {
        let probe = self.disk.join("probe");
        probe
            .parent()
            .map_or_else(|| probe.clone(), Path::to_path_buf)
    }

    fn filler(&self) -> PathBuf {
        self.disk.join("filler")
    }

    fn used_bytes(&self) -> Result<u64> {
        let output = Command::new("df")
            .args(["-B1", "--output=used"])
            .arg(self.mount_point())
            .output()
            .context("run df")?;
        let text = String::from_utf8_lossy(&output.stdout);
        text.lines()
            .nth(1)
            .and_then(|line| line.trim().parse().ok())
            .ok_or_else(|| anyhow!("df printed {text:?}"))
    }

    /// Shrinks the tmpfs to what it holds (rounded up to a MiB), then fills
    /// that last MiB with a file: the member's next write finds no space.
    fn fill(&self) -> Result<String> {
        let mut size_mib = 0;
        for _ in 0..20 {
            let used = self.used_bytes()?;
            let mib = used.div_ceil(1 << 20).max(1);
            let status = Command::new("mount")
                .args(["-o", &format!("remount,size={mib}m")])
                .arg(self.mount_point())
                .stderr(std::process::Stdio::null())
                .status()
                .context("run mount")?;
            if status.success() {
                size_mib = mib;
                break;
            }
            // The member wrote meanwhile: measure again.
        }
        if size_mib == 0 {
            bail!("could not shrink the tmpfs to its use");
        }
        let mut file = std::fs::File::create(self.filler()).context("create the filler")?;
        let chunk = [0u8; 4096];
        let mut written = 0usize;
        while let Ok(n) = file.write(&chunk) {
            if n == 0 {
                break;
            }
            written += n;
        }
        Ok(format!(
            "tmpfs shrunk to {size_mib} MiB, the rest ({written} bytes) filled"
        ))
    }

    fn free(&self) {
        let _ = std::fs::remove_file(self.filler());
        self.disk.grow(DISK_MIB);
    }
}

struct Soak {
    shared: Arc<Shared>,
    members: Arc<Mutex<Vec<Member>>>,
    links: Arc<Links>,
    urls: Arc<Vec<String>>,
    genesis: PathBuf,
    disk: Option<Arc<FullDisk>>,
    clock_dir: Option<PathBuf>,
    faults: Mutex<Vec<String>>,
    counts: Mutex<BTreeMap<Fault, u64>>,
}

fn panic_message(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "a panic".into()),
        Err(error) => error.to_string(),
    }
}

impl Soak {
    fn fault_log(&self, message: String) {
        self.shared.log(&message);
        lock(&self.faults).push(format!(
            "+{:.1}s {} {message}",
            self.shared.started.elapsed().as_secs_f64(),
            utc_clock()
        ));
    }

    /// Runs `f` on the members on a blocking thread (the helpers start
    /// processes and wait for them); a panic in it comes back as an error.
    async fn with_members<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Member>) -> T + Send + 'static,
    ) -> Result<T, String> {
        let members = Arc::clone(&self.members);
        tokio::task::spawn_blocking(move || f(&mut lock(&members)))
            .await
            .map_err(panic_message)
    }

    async fn kill_9(&self, id: u64) {
        let result = self
            .with_members(move |members| {
                if let Some(node) = members[id as usize - 1].node.take() {
                    node.kill_9();
                }
            })
            .await;
        if let Err(error) = result {
            self.shared
                .anomaly(format!("kill -9 of member {id} failed: {error}"));
        }
    }

    /// SIGTERM and a wait for the exit.
    async fn terminate(&self, id: u64) {
        let result = self
            .with_members(move |members| {
                members[id as usize - 1]
                    .node
                    .take()
                    .map(tansiq_tests::Node::terminate)
            })
            .await;
        match result {
            Ok(Some(false)) => self.shared.anomaly(format!(
                "member {id} exited unsuccessfully after SIGTERM (see node-{id}.log)"
            )),
            Err(error) => self
                .shared
                .anomaly(format!("member {id} and SIGTERM: {error}")),
            _ => {}
        }
    }

    /// Starts a member that is down (a few attempts).
    async fn start(&self, id: u64) -> bool {
        for attempt in 1..=3 {
            let genesis = self.genesis.clone();
            let result = self
                .with_members(move |members| {
                    let member = &mut members[id as usize - 1];
                    if member.node.is_none() {
                        member.start(&genesis);
                    }
                })
                .await;
            match result {
                Ok(()) => return true,
                Err(error) => {
                    self.shared.anomaly(format!(
                        "member {id} did not start (attempt {attempt}): {error}"
                    ));
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
        false
    }

    /// The leader as some running member sees it.
    async fn leader(&self) -> Option<u64> {
        self.with_members(|members| {
            members
                .iter()
                .filter(|member| member.node.is_some())
                .find_map(|member| {
                    let status = cluster::status(member.node())?;
                    (status["hasLeader"] == true).then(|| cluster::number(&status, "leaderId"))
                })
        })
        .await
        .ok()
        .flatten()
    }

    async fn member_state(&self, id: u64) -> String {
        self.with_members(move |members| {
            members[id as usize - 1]
                .node
                .as_ref()
                .and_then(cluster::status)
                .map_or_else(
                    || "no status".to_owned(),
                    |status| status["state"].as_str().unwrap_or("?").to_owned(),
                )
        })
        .await
        .unwrap_or_else(|error| error)
    }

    fn log_file(&self, id: u64) -> Option<PathBuf> {
        lock(&self.members)[id as usize - 1].log.clone()
    }

    /// Injects one fault, holds it, heals it.
    async fn episode(&self, fault: Fault, target: u64, hold: Duration, offset: &str) {
        *lock(&self.counts).entry(fault).or_default() += 1;
        let role = if target == LEARNER {
            "learner"
        } else if self.leader().await == Some(target) {
            "voter, the leader"
        } else {
            "voter"
        };
        let who = format!("member {target} ({role})");
        match fault {
            Fault::Kill9 => {
                self.fault_log(format!("kill -9 {who}"));
                self.kill_9(target).await;
                pause(&self.shared, hold).await;
                self.start(target).await;
                self.fault_log(format!("restarted {who} after kill -9"));
            }
            Fault::Partition => {
                self.fault_log(format!("partition: every link of {who} cut"));
                self.links.isolate(target);
                pause(&self.shared, hold).await;
                self.links.heal_all();
                self.fault_log(format!("partition of {who} healed"));
            }
            Fault::Restart => {
                self.fault_log(format!("clean restart (SIGTERM) of {who}"));
                self.terminate(target).await;
                self.start(target).await;
                self.fault_log(format!("{who} restarted"));
            }
            Fault::DiskFull => {
                let Some(disk) = self.disk.clone() else {
                    return;
                };
                let filled = {
                    let disk = Arc::clone(&disk);
                    tokio::task::spawn_blocking(move || disk.fill())
                        .await
                        .map_err(|error| anyhow!(panic_message(error)))
                        .and_then(|result| result)
                };
                match filled {
                    Ok(how) => self.fault_log(format!("disk of {who} full: {how}")),
                    Err(error) => {
                        self.shared
                            .anomaly(format!("could not fill the disk of {who}: {error:#}"));
                    }
                }
                pause(&self.shared, hold).await;
                let state = self.member_state(target).await;
                self.kill_9(target).await;
                let freed = tokio::task::spawn_blocking(move || disk.free())
                    .await
                    .map_err(panic_message);
                if let Err(error) = freed {
                    self.shared
                        .anomaly(format!("could not free the disk of {who}: {error}"));
                }
                self.start(target).await;
                self.fault_log(format!(
                    "disk of {who} freed, member killed and restarted (its Raft state while full: {state})"
                ));
            }
            Fault::ClockJump => {
                let Some(dir) = self.clock_dir.clone() else {
                    return;
                };
                let file = dir.join(format!("node-{target}"));
                if let Err(error) = std::fs::write(&file, offset) {
                    self.shared
                        .anomaly(format!("cannot write {}: {error}", file.display()));
                    return;
                }
                self.fault_log(format!(
                    "clock jump: {who} restarted with its wall clock at {offset}"
                ));
                let log_length = self
                    .log_file(target)
                    .and_then(|log| std::fs::metadata(log).ok())
                    .map_or(0, |meta| meta.len());
                self.terminate(target).await;
                self.start(target).await;
                tokio::time::sleep(Duration::from_millis(500)).await;
                let _ = std::fs::remove_file(&file);
                match self
                    .log_file(target)
                    .and_then(|log| clock_offset_in_log(&log, log_length))
                {
                    Some(seen) => {
                        self.fault_log(format!("{who} logs times {seen:+} s from this clock"));
                        if seen.abs() < 60 {
                            self.shared.anomaly(format!(
                                "clock jump of {who} to {offset} had no effect on its log's times ({seen:+} s)"
                            ));
                        }
                    }
                    None => self.shared.anomaly(format!(
                        "no timestamp in {who}'s log after its restart under faketime"
                    )),
                }
                pause(&self.shared, hold).await;
                self.terminate(target).await;
                self.start(target).await;
                self.fault_log(format!("{who} restarted with the true clock"));
            }
        }
        self.await_answers(&[target]).await;
    }

    /// Waits (bounded) until the members answer GetHead; a member that does
    /// not (it crashed, or hangs) is killed and started again.
    async fn await_answers(&self, ids: &[u64]) {
        for &id in ids {
            let url = self.urls[id as usize - 1].clone();
            if answers_within(&url, HEAL_BOUND).await {
                continue;
            }
            let tail = self
                .log_file(id)
                .map(|log| log_tail(&log, 6))
                .unwrap_or_default();
            self.shared.anomaly(format!(
                "member {id} did not answer within {} s of its fault's end; killed and restarted. Its log ends:\n{tail}",
                HEAL_BOUND.as_secs()
            ));
            self.kill_9(id).await;
            self.start(id).await;
        }
    }
}

async fn answers_within(url: &str, bound: Duration) -> bool {
    let deadline = Instant::now() + bound;
    while Instant::now() < deadline {
        if let Ok(channel) = channel(url) {
            let mut request = tonic::Request::new(pb::GetHeadRequest {});
            request.set_timeout(Duration::from_secs(5));
            if LedgerClient::new(channel).get_head(request).await.is_ok() {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The node's log times against this process's clock, seconds: from the
/// last timestamp written after `from` (byte offset) in the member's log.
fn clock_offset_in_log(path: &Path, from: u64) -> Option<i64> {
    let bytes = std::fs::read(path).ok()?;
    let start = usize::try_from(from).ok()?.min(bytes.len());
    let text = String::from_utf8_lossy(&bytes[start..]);
    let stamp = text.lines().filter_map(parse_rfc3339_seconds).next_back()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs() as i64;
    Some(stamp - now)
}

/// The first `YYYY-MM-DDTHH:MM:SS` in `line`, as seconds since the epoch (UTC).
fn parse_rfc3339_seconds(line: &str) -> Option<i64> {
    let bytes = line.as_bytes();
    let shape = |window: &[u8]| {
        window.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            10 => *b == b'T',
            13 | 16 => *b == b':',
            _ => b.is_ascii_digit(),
        })
    };
    let at = bytes.windows(19).position(shape)?;
    let field = |from: usize, to: usize| line[at + from..at + to].parse::<i64>().ok();
    let (year, month, day) = (field(0, 4)?, field(5, 7)?, field(8, 10)?);
    let (hour, minute, second) = (field(11, 13)?, field(14, 16)?, field(17, 19)?);
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = if year >= 0 { year } else { year - 399 } / 400;
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The seeded schedule: one fault at a time, every few seconds, until the
/// soak stops; the fault in progress is healed before it returns.
async fn schedule(context: Arc<Soak>, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut kinds = vec![Fault::Kill9, Fault::Partition, Fault::Restart];
    if context.disk.is_some() {
        kinds.push(Fault::DiskFull);
    }
    if context.clock_dir.is_some() {
        kinds.push(Fault::ClockJump);
    }
    let offsets = ["+1h", "-5m"];
    if pause(
        &context.shared,
        Duration::from_millis(rng.gen_range(2000..4000)),
    )
    .await
    {
        return;
    }
    loop {
        // Every draw is made whatever the outcome: the same seed gives the
        // same schedule.
        let fault = kinds[rng.gen_range(0..kinds.len())];
        let at_leader = rng.gen_bool(0.3);
        let member = rng.gen_range(1..=MEMBERS);
        let hold = Duration::from_millis(rng.gen_range(2000..9000));
        let offset = offsets[rng.gen_range(0..offsets.len())];
        let gap = Duration::from_millis(rng.gen_range(2000..6000));
        if context.shared.stopped() {
            return;
        }
        let target = match fault {
            Fault::DiskFull => context.disk.as_ref().map_or(member, |disk| disk.member),
            _ if at_leader => context.leader().await.unwrap_or(member),
            _ => member,
        };
        context.episode(fault, target, hold, offset).await;
        if pause(&context.shared, gap).await {
            return;
        }
    }
}

// ---------------------------------------------------------------------------
// The run

async fn run(args: Args) -> Result<Outcome> {
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            .unwrap_or_default()
    });
    let shared = Arc::new(Shared::new());
    let soak = Duration::from_secs_f64(args.minutes.max(0.0) * 60.0);
    shared.log(&format!(
        "tansiq-soak: {} min of faults, seed {seed} (rerun: bench/soak.sh {} {seed}), build {}",
        args.minutes,
        args.minutes,
        tansiq_tests::build_profile()
    ));
    {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let mut terminate =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            let terminated = async {
                match terminate.as_mut() {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = terminated => {}
            }
            shared.interrupted.store(true, Ordering::SeqCst);
            shared.stop.store(true, Ordering::SeqCst);
        });
    }

    // Declared first, dropped last: the members (and their processes) go first.
    let root = tempfile::Builder::new()
        .prefix("tansiq-soak-")
        .tempdir()
        .context("a temporary directory")?;
    let mut setup_rng = StdRng::seed_from_u64(seed ^ 0x5eed_d15c);
    let disk_member = setup_rng.gen_range(1..=MEMBERS);
    let disk = SmallDisk::mount(DISK_MIB).map(|disk| {
        Arc::new(FullDisk {
            disk,
            member: disk_member,
        })
    });
    let disk_note = match &disk {
        Some(disk) => format!("member {}'s data on a tmpfs", disk.member),
        None => "off (mounting a tmpfs needs root)".to_owned(),
    };
    let clock_note = match &args.clock_dir {
        Some(dir) if dir.is_dir() => {
            "restarts under libfaketime (wall clock +1h or -5m; monotonic clock untouched)"
                .to_owned()
        }
        Some(dir) => bail!("--clock-dir {} is not a directory", dir.display()),
        None => "off (no --clock-dir: bench/soak.sh sets one up when libfaketime works)".to_owned(),
    };
    let mut members = cluster::members(root.path(), MEMBERS);
    for member in &mut members {
        member.log_into(root.path());
    }
    if let Some(disk) = &disk {
        members[disk.member as usize - 1].dir =
            disk.disk.join(format!("node-{}", disk.member).as_str());
    }
    let links = Arc::new(Links::between(&mut members).await);
    for member in &mut members {
        // Snapshots and log purges happen during the run, so a member back
        // from a fault may catch up from a snapshot.
        member
            .flags
            .extend(["--snapshot-every".to_owned(), "500".to_owned()]);
    }
    let urls: Arc<Vec<String>> = Arc::new(members.iter().map(Member::url).collect());
    shared.log(&format!(
        "cluster: voters 1-3, learner 4 (donor site), data and logs in {}; full disk: {disk_note}; clock jumps: {clock_note}",
        root.path().display()
    ));
    let genesis = cluster::genesis_of(&members);
    let urls_for_setup = Arc::clone(&urls);
    let donor_count = args.donors;
    let (members, leader) = tokio::task::spawn_blocking(move || {
        let leader = cluster::form(&mut members, VOTERS);
        (members, leader)
    })
    .await
    .map_err(|error| anyhow!("forming the cluster: {}", panic_message(error)))?;
    shared.log(&format!("cluster formed; leader {leader}"));
    let setup_started = Instant::now();
    // Setup failures panic in the helpers (as in the tests): an error here.
    let setup = tokio::spawn(async move {
        let (donors, receipts) = set_up(&members, &urls_for_setup, donor_count).await;
        (members, donors, receipts)
    })
    .await
    .map_err(|error| anyhow!("setting up: {}", panic_message(error)))?;
    let (members, donors, receipts) = setup;
    let setup = (donors, receipts, setup_started.elapsed());
    let members = Arc::new(Mutex::new(members));

    let context = Arc::new(Soak {
        shared: Arc::clone(&shared),
        members: Arc::clone(&members),
        links: Arc::clone(&links),
        urls: Arc::clone(&urls),
        genesis,
        disk: disk.clone(),
        clock_dir: args.clock_dir.clone(),
        faults: Mutex::default(),
        counts: Mutex::default(),
    });
    let outcome = soak_and_check(&args, seed, soak, &context, setup).await;
    // Whatever happened: no fault left in place, then everything is dropped.
    links.heal_all();
    if let Some(dir) = &args.clock_dir {
        for id in 1..=MEMBERS {
            let _ = std::fs::remove_file(dir.join(format!("node-{id}")));
        }
    }
    let outcome = outcome?;
    if matches!(outcome, Outcome::Fail) {
        keep_logs(&args, seed, root.path(), &shared);
    }
    Ok(outcome)
}

type Setup = (Vec<Author>, Vec<(Vec<u8>, pb::Receipt)>, Duration);

async fn soak_and_check(
    args: &Args,
    seed: u64,
    soak: Duration,
    context: &Arc<Soak>,
    setup: Setup,
) -> Result<Outcome> {
    let shared = &context.shared;
    let urls = &context.urls;
    let (donors, setup, setup_time) = setup;
    for (id, receipt) in &setup {
        shared.acknowledge(id, receipt, false);
    }
    shared.log(&format!(
        "{} donors and {} municipalities registered; clients start ({} donors writing, {} readers)",
        donors.len(),
        setup.len(),
        donors.len(),
        args.readers
    ));

    let mut tasks = Vec::new();
    for (index, donor) in donors.into_iter().enumerate() {
        tasks.push(tokio::spawn(donor_loop(
            index,
            donor,
            Arc::clone(urls),
            Arc::clone(shared),
            seed.wrapping_add(1000 + index as u64),
        )));
    }
    for reader in 0..args.readers {
        tasks.push(tokio::spawn(reader_loop(
            reader,
            Arc::clone(urls),
            Arc::clone(shared),
            seed.wrapping_add(2000 + reader as u64),
        )));
    }
    let scheduler = tokio::spawn(schedule(Arc::clone(context), seed));
    let soak_started = Instant::now();
    pause(shared, soak).await;
    shared.stop.store(true, Ordering::SeqCst);
    let soaked = soak_started.elapsed();
    shared.log("stopping: clients finish their request, the fault in progress is healed");
    // The scheduler heals what it injected (a restart may take up to a
    // minute if a member ignores SIGTERM).
    if tokio::time::timeout(Duration::from_secs(150), scheduler)
        .await
        .is_err()
    {
        shared.anomaly("the fault scheduler did not finish within 150 s of the stop".into());
    }
    for task in tasks {
        let abort = task.abort_handle();
        match tokio::time::timeout(SUBMIT_TIMEOUT + Duration::from_secs(5), task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => bail!("a client failed: {error:#}"),
            Ok(Err(error)) if error.is_cancelled() => {}
            Ok(Err(error)) => {
                shared.anomaly(format!("a client panicked: {}", panic_message(error)))
            }
            Err(_) => abort.abort(),
        }
    }
    if shared.interrupted.load(Ordering::SeqCst) {
        shared.log("interrupted: no checks; cleaning up");
        bail!("interrupted");
    }

    // Heal everything, start anything down, converge.
    let converge_started = Instant::now();
    context.links.heal_all();
    if let Some(disk) = context.disk.clone() {
        let _ = std::fs::remove_file(disk.filler());
        let _ = tokio::task::spawn_blocking(move || disk.free()).await;
    }
    for id in 1..=MEMBERS {
        if lock(&context.members)[id as usize - 1].node.is_none() && !context.start(id).await {
            bail!("member {id} does not start again");
        }
    }
    context.await_answers(&[1, 2, 3, 4]).await;
    let converged = converge(context, Duration::from_secs(args.converge_seconds)).await;
    let converge_time = converge_started.elapsed();

    let checks_started = Instant::now();
    let mut report = Vec::new();
    match converged {
        Ok(head) => {
            shared.log(&format!(
                "converged at position {} head {}",
                head.position,
                hex::encode(&head.head)
            ));
            report.push(format!(
                "every member's head: position {} {}",
                head.position,
                hex::encode(&head.head)
            ));
            let positions = vec![head.position; context.urls.len()];
            check(context, &positions, &mut report).await;
        }
        Err((described, heads)) => {
            shared.violation(format!(
                "the members did not converge within {} s of healing: {described}",
                args.converge_seconds
            ));
            // What can still be said: is the laggard's log a prefix of the
            // others' (behind) or not (diverged), and what it lacks.
            if let Some(positions) = heads
                .iter()
                .map(|head| head.as_ref().ok().map(|head| head.position))
                .collect::<Option<Vec<u64>>>()
            {
                check(context, &positions, &mut report).await;
            }
        }
    }
    let checks_time = checks_started.elapsed();
    Ok(summary(
        context,
        seed,
        [soaked, setup_time, converge_time, checks_time],
        &report,
    ))
}

/// Registers the donors and the municipalities; the donors' authors, and
/// the receipts of the municipalities.
async fn set_up(
    members: &[Member],
    urls: &[String],
    donors: usize,
) -> (Vec<Author>, Vec<(Vec<u8>, pb::Receipt)>) {
    let authors = cluster::register_donors(members, urls, donors).await;
    cluster::converged_head(members).await;
    let mut client = members[0].node().client().await;
    let mut ministry = tansiq_tests::author(&mut client, &members[0].node().ministry_key()).await;
    let mut pcodes = vec![READ_PCODE.to_owned()];
    pcodes.extend((0..PROJECT_PCODES).map(|n| format!("LY01{:02}", 10 + n)));
    let mut receipts = Vec::new();
    for pcode in pcodes {
        let (event, id) = ministry.sign(events::municipality(&pcode, "", 2), now_ms());
        let receipt = cluster::submit_until_acknowledged(urls, 0, &event).await;
        receipts.push((id.0.to_vec(), receipt));
    }
    cluster::converged_head(members).await;
    (authors, receipts)
}

async fn get_head(url: &str) -> Result<pb::LedgerHead, String> {
    let channel = channel(url).map_err(|error| error.to_string())?;
    let mut request = tonic::Request::new(pb::GetHeadRequest {});
    request.set_timeout(Duration::from_secs(5));
    LedgerClient::new(channel)
        .get_head(request)
        .await
        .map(tonic::Response::into_inner)
        .map_err(|status| format!("{:?}: {}", status.code(), status.message()))
}

/// Waits until every member has the same head, the donor site's outbox is
/// empty, and that holds a second later; Err: what each member last said.
/// What each member said last: its head, or why it did not answer.
type Heads = Vec<Result<pb::LedgerHead, String>>;

async fn converge(context: &Soak, bound: Duration) -> Result<pb::LedgerHead, (String, Heads)> {
    let deadline = Instant::now() + bound;
    let mut candidate: Option<pb::LedgerHead> = None;
    loop {
        let mut heads = Vec::new();
        for url in context.urls.iter() {
            heads.push(get_head(url).await);
        }
        let agreed = match heads.first() {
            Some(Ok(first)) if heads.iter().all(|head| head.as_ref() == Ok(first)) => {
                Some(first.clone())
            }
            _ => None,
        };
        let outbox_empty = context
            .with_members(|members| {
                members[LEARNER as usize - 1]
                    .node
                    .as_ref()
                    .and_then(cluster::status)
                    .is_some_and(|status| cluster::number(&status, "outboxPending") == 0)
            })
            .await
            .unwrap_or(false);
        match (agreed, outbox_empty) {
            (Some(head), true) if candidate.as_ref() == Some(&head) => return Ok(head),
            (Some(head), true) => candidate = Some(head),
            _ => candidate = None,
        }
        if Instant::now() > deadline {
            let described: Vec<String> = heads
                .iter()
                .enumerate()
                .map(|(i, head)| match head {
                    Ok(head) => format!(
                        "member {}: position {} {}",
                        i + 1,
                        head.position,
                        hex::encode(&head.head)
                    ),
                    Err(error) => format!("member {}: {error}", i + 1),
                })
                .collect();
            let described = format!(
                "{}; donor site's outbox empty: {outbox_empty}",
                described.join("; ")
            );
            return Err((described, heads));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One member's log, positions 1..=upto: (event id, head, committed at).
async fn read_log(url: &str, upto: u64) -> Result<Vec<(Vec<u8>, Vec<u8>, i64)>, String> {
    let mut client = LedgerClient::new(channel(url).map_err(|error| error.to_string())?);
    let mut stream = client
        .subscribe(pb::SubscribeRequest { from_position: 1 })
        .await
        .map_err(|status| format!("Subscribe: {status:?}"))?
        .into_inner();
    let mut log = Vec::with_capacity(upto as usize);
    while (log.len() as u64) < upto {
        let entry = tokio::time::timeout(Duration::from_secs(30), stream.message())
            .await
            .map_err(|_| format!("no entry {} within 30 s", log.len() + 1))?
            .map_err(|status| format!("Subscribe: {status:?}"))?
            .ok_or_else(|| format!("the log ended at position {}", log.len()))?;
        let expected = log.len() as u64 + 1;
        if entry.position != expected {
            return Err(format!(
                "the log streamed position {} where {expected} was due",
                entry.position
            ));
        }
        log.push((entry.event_id, entry.head, entry.committed_at_ms));
    }
    Ok(log)
}

/// The end checks; each violation is recorded, `report` says what was checked.
/// The end checks against each member's log up to `positions[member]`
/// (all equal when the members converged); each violation is recorded,
/// `report` says what was checked.
async fn check(context: &Soak, positions: &[u64], report: &mut Vec<String>) {
    let shared = &context.shared;
    let acknowledged = lock(&shared.acknowledged).clone();
    let mut by_position: Vec<_> = acknowledged.iter().collect();
    by_position.sort_by_key(|(_, (position, _))| *position);
    let mut logs = Vec::new();
    for (index, url) in context.urls.iter().enumerate() {
        match read_log(url, positions[index]).await {
            Ok(log) => logs.push(log),
            Err(error) => {
                shared.violation(format!(
                    "member {}: cannot read its log: {error}",
                    index + 1
                ));
                return;
            }
        }
    }
    // Every member's log is the same, entry by entry (a shorter one, when
    // the members did not converge, must be a prefix of the longest).
    let longest = (0..logs.len())
        .max_by_key(|&index| logs[index].len())
        .unwrap_or_default();
    for (index, log) in logs.iter().enumerate() {
        let reference = &logs[longest];
        if let Some(position) =
            (0..log.len()).find(|&p| log[p].0 != reference[p].0 || log[p].1 != reference[p].1)
        {
            shared.violation(format!(
                "member {} and member {} differ at position {}: event {} head {} against event {} head {}",
                index + 1,
                longest + 1,
                position + 1,
                hex::encode(&log[position].0),
                hex::encode(&log[position].1),
                hex::encode(&reference[position].0),
                hex::encode(&reference[position].1)
            ));
        } else if log.len() < reference.len() {
            report.push(format!(
                "member {}'s log (to position {}) is a prefix of member {}'s (to {}): behind, not diverged",
                index + 1,
                log.len(),
                longest + 1,
                reference.len()
            ));
        }
    }
    // Each acknowledged event exactly once, at its receipt's position and head.
    for (index, log) in logs.iter().enumerate() {
        let mut positions: HashMap<&[u8], Vec<u64>> = HashMap::new();
        for (p, (id, _, _)) in log.iter().enumerate() {
            positions.entry(id).or_default().push(p as u64 + 1);
        }
        if let Some((id, at)) = positions.iter().find(|(_, at)| at.len() > 1) {
            shared.violation(format!(
                "member {}: event {} is on the log {} times, at positions {at:?}",
                index + 1,
                hex::encode(id),
                at.len()
            ));
        }
        let beyond = by_position
            .iter()
            .filter(|(_, (position, _))| *position > log.len() as u64)
            .count();
        if beyond > 0 {
            shared.violation(format!(
                "member {}: {beyond} acknowledged events are beyond its log's end (position {}): it never caught up",
                index + 1,
                log.len()
            ));
        }
        for (id, (position, head)) in &by_position {
            if *position > log.len() as u64 {
                break;
            }
            match positions.get(id.as_slice()).map(Vec::as_slice) {
                None => {
                    shared.violation(format!(
                        "member {}: acknowledged event {} (receipt: position {position}) is not on its log",
                        index + 1,
                        hex::encode(id)
                    ));
                    break;
                }
                Some([at]) if at == position => {
                    let on_log = &log[*at as usize - 1].1;
                    if on_log != head {
                        shared.violation(format!(
                            "member {}: acknowledged event {} is at its position {position} but the head there is {} where its receipt said {}",
                            index + 1,
                            hex::encode(id),
                            hex::encode(on_log),
                            hex::encode(head)
                        ));
                        break;
                    }
                }
                Some(at) => {
                    shared.violation(format!(
                        "member {}: acknowledged event {} is at positions {at:?}, its receipt said {position}",
                        index + 1,
                        hex::encode(id)
                    ));
                    break;
                }
            }
        }
    }
    report.push(format!(
        "{} acknowledged events: each exactly once on all {} members' logs, at its receipt's position and head (unless a violation is listed)",
        acknowledged.len(),
        logs.len()
    ));
    // The index by id agrees with the log.
    let mut index_errors = 0;
    for (member, url) in context.urls.iter().enumerate() {
        let Ok(channel) = channel(url) else { continue };
        let mut client = LedgerClient::new(channel);
        let end = logs[member].len() as u64;
        for (id, (position, head)) in by_position.iter().filter(|(_, (p, _))| *p <= end) {
            let found = client
                .get_event(pb::GetEventRequest {
                    event_id: (*id).clone(),
                })
                .await;
            let fine = matches!(&found, Ok(entry) if entry.get_ref().position == *position && &entry.get_ref().head == head);
            if !fine {
                index_errors += 1;
                if index_errors == 1 {
                    shared.violation(format!(
                        "member {}: GetEvent of acknowledged event {} (receipt: position {position}) answered {:?}",
                        member + 1,
                        hex::encode(id),
                        found.map(tonic::Response::into_inner)
                    ));
                }
            }
        }
    }
    report.push(format!(
        "GetEvent on every member for every acknowledged event: {index_errors} mismatches"
    ));
    // `tansiq verify`: signatures and hash chain, on each member.
    let heads: Vec<String> = logs
        .iter()
        .map(|log| {
            log.last()
                .map(|entry| hex::encode(&entry.1))
                .unwrap_or_default()
        })
        .collect();
    let verified = context
        .with_members(move |members| {
            members
                .iter()
                .map(|member| {
                    let output = tansiq_tests::cli(member.node(), &["verify", "--output", "json"]);
                    let text = tansiq_tests::stdout(&output);
                    let report: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                    if output.status.success()
                        && report["result"] == "ok"
                        && report["head"].as_str()
                            == heads.get(member.id as usize - 1).map(String::as_str)
                    {
                        Ok(())
                    } else {
                        Err(format!(
                            "member {}: tansiq verify: {} {}",
                            member.id,
                            text.trim(),
                            tansiq_tests::stderr(&output).trim()
                        ))
                    }
                })
                .collect::<Vec<_>>()
        })
        .await;
    match verified {
        Ok(results) => {
            for error in results.into_iter().filter_map(Result::err) {
                shared.violation(error);
            }
            report.push("tansiq verify (signatures, hash chain) on every member".into());
        }
        Err(error) => shared.anomaly(format!("tansiq verify could not run: {error}")),
    }
    // Observation only: the commit times the leaders stamped, along the log.
    let backwards: Vec<i64> = logs[0]
        .windows(2)
        .filter(|pair| pair[1].2 < pair[0].2)
        .map(|pair| pair[0].2 - pair[1].2)
        .collect();
    if !backwards.is_empty() {
        report.push(format!(
            "observation (not a checked property): the commit time decreases from one entry to the next {} times along the log, by up to {} ms",
            backwards.len(),
            backwards.iter().max().copied().unwrap_or_default()
        ));
    }
}

fn summary(context: &Soak, seed: u64, times: [Duration; 4], report: &[String]) -> Outcome {
    let shared = &context.shared;
    let [soaked, setup, converge, checks] = times;
    let counters = lock(&shared.counters);
    let counts = lock(&context.counts);
    let violations = lock(&shared.violations);
    let anomalies = lock(&shared.anomalies);
    let faults: Vec<String> = counts
        .iter()
        .map(|(fault, count)| format!("{} {count}", fault.name()))
        .collect();
    let total: u64 = counts.values().sum();
    println!();
    println!("== tansiq-soak summary");
    println!(
        "duration: {:.1} s of faults and clients (setup {:.1} s, healing and convergence {:.1} s, checks {:.1} s)",
        soaked.as_secs_f64(),
        setup.as_secs_f64(),
        converge.as_secs_f64(),
        checks.as_secs_f64()
    );
    println!("seed: {seed}");
    println!("faults injected: {total} ({})", faults.join(", "));
    match (&context.disk, &context.clock_dir) {
        (None, _) => println!("  not injected: full disk (no tmpfs: needs root)"),
        (_, None) => {
            println!("  not injected: clock jumps (no --clock-dir; libfaketime not set up)")
        }
        _ => {}
    }
    println!("fault schedule:");
    for line in lock(&context.faults).iter() {
        println!("  {line}");
    }
    println!(
        "events acknowledged: {} (through the donor site's outbox: {}; duplicate receipts: {}; unacknowledged at the stop: {})",
        counters.acknowledged, counters.via_outbox, counters.duplicates, counters.abandoned
    );
    println!("submissions retried, by code: {:?}", counters.submit_errors);
    println!(
        "linearizable reads answered: {}; refused, by code: {:?}",
        counters.reads, counters.read_errors
    );
    for line in report {
        println!("checked: {line}");
    }
    if !anomalies.is_empty() {
        println!(
            "anomalies (not guarantees, worth a look): {}",
            anomalies.len()
        );
        for anomaly in anomalies.iter().take(20) {
            println!("  - {anomaly}");
        }
    }
    if violations.len() > 1 {
        println!("violations: {}", violations.len());
        for violation in violations.iter().take(10) {
            println!("  - {violation}");
        }
    }
    if let Some(first) = violations.first() {
        println!(
            "FAIL: {} violation(s); the first: {first}",
            violations.len()
        );
        Outcome::Fail
    } else {
        println!("PASS");
        Outcome::Pass
    }
}

/// On FAIL: the members' logs, kept as evidence (the temporary directory goes).
fn keep_logs(args: &Args, seed: u64, root: &Path, shared: &Shared) {
    let dir = args
        .keep_logs
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("tansiq-soak-{seed}-logs")));
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    for id in 1..=MEMBERS {
        let name = format!("node-{id}.log");
        let _ = std::fs::copy(root.join(&name), dir.join(&name));
    }
    shared.log(&format!("members' logs kept in {}", dir.display()));
}
