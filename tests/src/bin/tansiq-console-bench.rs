//! The analyst console at about a million events: builds the scale ledger
//! (`tansiq_tests::scale`, the coverage benchmark's generator: 10,000
//! municipalities, 200,000 projects, ...) into a node data directory, or
//! reuses one built before (`--dir`), starts a real `tansiq-node` on it
//! with `--http`, and GETs each page in turn, one client, one request at a
//! time over a kept-alive loopback connection, after a warm-up:
//!
//! - the overview `/`;
//! - the matrix of the country (`/matrix?pcode=LY`, every municipality:
//!   the page says to narrow it, past its row limit) and of a random
//!   region (`/matrix?pcode=LYnn`, 100 municipalities, drawn in full);
//! - a random municipality (`/m/LYrrNNNN`);
//! - the gaps of the country (`/gaps?pcode=LY`);
//! - the overlaps of the country (`/overlaps?pcode=LY`) and of everything,
//!   those reviewed as complementary included (`/overlaps?all=1`);
//! - a random project with its signed history (`/p/pN`);
//! - the overview, and the country's gaps and overlaps, as of the middle
//!   day of the ledger's history (`?as_of=YYYY-MM-DD`: a day that has
//!   ended on the ledger, whose counts the node keeps once made).
//!
//! For each it prints the p50, p99 and maximum of the time to the last
//! byte of the body, as this client sees it on loopback (the node's time
//! plus loopback, not the network), the body's size and the HTTP statuses;
//! then the node's peak resident memory (VmHWM). A status other than 200,
//! or a page without what it should show, fails the run. Figures are
//! printed, never asserted: a benchmark, not a test.
//!
//! Run it with `bench/console.sh` (dev profile, dependencies optimised).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tansiq_ledger::date::Date;
use tansiq_tests::scale::{self, Manifest, Scale, COUNTRY};
use tansiq_tests::Node;

#[derive(Parser)]
#[command(about = "Server time per analyst-console page of a real node at a million events")]
struct Args {
    #[arg(long, default_value_t = 10_000)]
    municipalities: usize,
    #[arg(long, default_value_t = 200_000)]
    projects: usize,
    #[arg(long, default_value_t = 100)]
    donors: usize,
    /// Events per commit group while building.
    #[arg(long, default_value_t = 2_000)]
    group: usize,
    /// Timed requests per page.
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Stop timing a page after this many seconds of its timed requests,
    /// with fewer than --requests (the table says how many were timed).
    #[arg(long, default_value_t = 600)]
    page_seconds: u64,
    /// Untimed requests per page before the timed ones.
    #[arg(long, default_value_t = 5)]
    warmup: usize,
    /// The node's data directory: the ledger is built there, or reused
    /// when a previous run built it completely (its scale.json then gives
    /// the scale, and the scale flags are ignored). Default: a temporary
    /// directory, deleted at the end.
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// A page to time: its name in the table, and the path of each request.
struct PageKind {
    name: &'static str,
    path: Box<dyn Fn(&mut StdRng) -> String>,
    /// Text every answer must hold (so that a page that answers 200 but
    /// shows something else is not timed as if it were the page).
    marker: &'static str,
}

/// What one page's requests gave.
struct Measured {
    name: &'static str,
    example: String,
    /// Sorted once measured.
    times: Vec<Duration>,
    /// Sorted once measured.
    bytes: Vec<usize>,
    /// (status, count), in the order first seen.
    statuses: Vec<(u16, usize)>,
    errors: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let scratch = tempfile::tempdir()?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| scratch.path().to_path_buf());
    let manifest = ledger(&dir, &args)?;
    let scale = manifest.scale.clone();
    let profile = tansiq_tests::build_profile();
    println!(
        "tansiq-console-bench: {} events ({} municipalities under {} regions, {} projects, {} donors) in {}",
        manifest.events,
        scale.municipalities,
        scale.regions(),
        scale.projects,
        scale.donors,
        dir.display()
    );
    println!(
        "build profile: {profile}; {} cores",
        std::thread::available_parallelism().map_or(1, usize::from)
    );

    let started = Instant::now();
    let node = Node::start_args(&dir, &["--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"]);
    let console = node
        .console_url
        .clone()
        .context("the node names its console")?;
    let console = console.trim_end_matches('/').to_owned();
    let (rss_started, _) = memory(node.pid())?;
    println!(
        "tansiq-node (pid {}) opened the ledger and serves the console on {console} {:.1} s after it was started; resident memory {} MiB",
        node.pid(),
        started.elapsed().as_secs_f64(),
        rss_started / 1024
    );

    let pages = pages(&manifest);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut rng = StdRng::seed_from_u64(15);
    let measured = runtime.block_on(async {
        let client = Client::builder(hyper_util::rt::TokioExecutor::new())
            .build::<_, Empty<Bytes>>(HttpConnector::new());
        // The first overview after start: the node counts the open
        // overlaps and gaps of the whole ledger once (coverage::Tally),
        // in the background from its start; this GET waits for it.
        let asked = Instant::now();
        let first = client.get(format!("{console}/").parse()?).await?;
        let status = first.status();
        first.into_body().collect().await?;
        println!(
            "the first overview, asked as soon as the node listened: {status} in {:.1} ms",
            asked.elapsed().as_secs_f64() * 1000.0
        );
        let mut measured = Vec::with_capacity(pages.len());
        for page in &pages {
            measured.push(measure(&client, &console, page, &args, &mut rng).await?);
        }
        anyhow::Ok(measured)
    })?;
    // The log's Merkle tree: proofs over gRPC, each checked (not timed).
    let proofs = runtime.block_on(prove(&node, args.requests, &mut rng))?;
    let (rss_end, peak) = memory(node.pid())?;
    drop(node);

    println!();
    println!(
        "up to {} timed GETs per page (or {} s of them) after {} untimed, one client, one request at a time on a kept-alive connection; time to the last byte of the body on loopback (node time + loopback)",
        args.requests, args.page_seconds, args.warmup
    );
    println!();
    println!("| page | path (example) | GETs | p50 ms | p99 ms | max ms | body bytes p50 | body bytes max | HTTP status |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for page in &measured {
        let (times, bytes) = (&page.times, &page.bytes);
        let statuses: Vec<String> = page
            .statuses
            .iter()
            .map(|(status, count)| format!("{status} × {count}"))
            .collect();
        println!(
            "| {} | `{}` | {} | {} | {} | {} | {} | {} | {} |",
            page.name,
            page.example,
            times.len(),
            millis(percentile(times, 50)),
            millis(percentile(times, 99)),
            millis(times.last().copied()),
            grouped(percentile(bytes, 50).unwrap_or(0)),
            grouped(bytes.last().copied().unwrap_or(0)),
            statuses.join(", ")
        );
    }
    println!();
    println!("| proof (gRPC, one client) | calls | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|");
    for (name, times) in &proofs {
        println!(
            "| {name} | {} | {} | {} | {} |",
            times.len(),
            millis(percentile(times, 50)),
            millis(percentile(times, 99)),
            millis(times.last().copied())
        );
    }
    println!();
    println!(
        "tansiq-node memory: peak (VmHWM) {} MiB ({} kB), resident at the end {} MiB; the ledger took {:.1} s to build",
        peak / 1024,
        peak,
        rss_end / 1024,
        manifest.load_seconds
    );
    let over: Vec<&str> = measured
        .iter()
        .filter(|page| percentile(&page.times, 99) > Some(Duration::from_millis(100)))
        .map(|page| page.name)
        .collect();
    if over.is_empty() {
        println!("every page's p99 is under the 100 ms aim");
    } else {
        println!("p99 over the 100 ms aim: {}", over.join("; "));
    }
    let errors: Vec<&String> = measured.iter().flat_map(|page| &page.errors).collect();
    if !errors.is_empty() {
        for error in errors.iter().take(20) {
            eprintln!("tansiq-console-bench: {error}");
        }
        bail!(
            "{} answers were not the page asked for (first ones above)",
            errors.len()
        );
    }
    Ok(())
}

/// The ledger in `dir`, reused or built now (and closed, so that the node
/// can open it).
fn ledger(dir: &Path, args: &Args) -> anyhow::Result<Manifest> {
    let scale = Scale {
        municipalities: args.municipalities,
        projects: args.projects,
        donors: args.donors,
        group: args.group,
    };
    let (built, reused) = scale::reuse_or_build(dir, &scale)?;
    if !reused {
        println!(
            "built: {} events in {:.1} s = {:.0} events/s (sign + verify + commit, in process)",
            built.manifest.events,
            built.manifest.load_seconds,
            built.manifest.events as f64 / built.manifest.load_seconds
        );
    }
    Ok(built.manifest)
}

fn pages(manifest: &Manifest) -> Vec<PageKind> {
    let scale = &manifest.scale;
    let (municipalities, regions, projects) =
        (scale.municipalities, scale.regions(), scale.projects);
    // The middle simulated day: ended, since later groups committed after it.
    let past = Date::from_unix_ms(scale::FIRST_DAY_MS + manifest.days / 2 * scale::DAY_MS);
    let as_of = move |path: &str| {
        let joiner = if path.contains('?') { '&' } else { '?' };
        format!("{path}{joiner}as_of={past}")
    };
    vec![
        PageKind {
            name: "overview",
            path: Box::new(|_| "/".to_owned()),
            marker: "id=\"position\"",
        },
        PageKind {
            name: "matrix of the country",
            path: Box::new(|_| format!("/matrix?pcode={COUNTRY}")),
            marker: "id=\"too-many\"",
        },
        PageKind {
            name: "matrix of a region (random)",
            path: Box::new(move |rng| {
                format!(
                    "/matrix?pcode={}",
                    scale::region_pcode(rng.gen_range(0..regions))
                )
            }),
            marker: "class=\"matrix\"",
        },
        PageKind {
            name: "municipality (random)",
            path: Box::new(move |rng| {
                format!("/m/{}", scale::pcode(rng.gen_range(0..municipalities)))
            }),
            marker: "id=\"supports\"",
        },
        PageKind {
            name: "gaps of the country",
            path: Box::new(|_| format!("/gaps?pcode={COUNTRY}")),
            marker: "class=\"gaps\"",
        },
        PageKind {
            name: "overlaps of the country",
            path: Box::new(|_| format!("/overlaps?pcode={COUNTRY}")),
            marker: "class=\"overlap",
        },
        PageKind {
            name: "overlaps, complementary included",
            path: Box::new(|_| "/overlaps?all=1".to_owned()),
            marker: "class=\"overlap",
        },
        PageKind {
            name: "project + history (random)",
            path: Box::new(move |rng| {
                format!("/p/{}", scale::project_id(rng.gen_range(0..projects)))
            }),
            marker: "history-entry",
        },
        PageKind {
            name: "overview as of a past day",
            path: Box::new(move |_| as_of("/")),
            marker: "id=\"position\"",
        },
        PageKind {
            name: "gaps of the country as of a past day",
            path: Box::new(move |_| as_of(&format!("/gaps?pcode={COUNTRY}"))),
            marker: "class=\"gaps\"",
        },
        PageKind {
            name: "overlaps of the country as of a past day",
            path: Box::new(move |_| as_of(&format!("/overlaps?pcode={COUNTRY}"))),
            marker: "class=\"overlap",
        },
    ]
}

async fn measure(
    client: &Client<HttpConnector, Empty<Bytes>>,
    console: &str,
    page: &PageKind,
    args: &Args,
    rng: &mut StdRng,
) -> anyhow::Result<Measured> {
    let mut measured = Measured {
        name: page.name,
        example: String::new(),
        times: Vec::with_capacity(args.requests),
        bytes: Vec::with_capacity(args.requests),
        statuses: Vec::new(),
        errors: Vec::new(),
    };
    let started = Instant::now();
    let mut timing = Duration::ZERO;
    for request in 0..args.warmup + args.requests {
        if timing > Duration::from_secs(args.page_seconds) {
            break;
        }
        let path = (page.path)(rng);
        let url: http::Uri = format!("{console}{path}").parse()?;
        let asked = Instant::now();
        let response = client
            .get(url)
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .with_context(|| format!("the body of GET {path}"))?
            .to_bytes();
        let elapsed = asked.elapsed();
        let shows = contains(&body, page.marker.as_bytes());
        if status != 200 || !shows {
            measured.errors.push(format!(
                "GET {path}: {status}, {}: {}",
                if shows {
                    "the page"
                } else {
                    "not the page asked for"
                },
                String::from_utf8_lossy(&body[..body.len().min(300)])
            ));
        }
        if request < args.warmup {
            continue;
        }
        if measured.example.is_empty() {
            measured.example = path;
        }
        timing += elapsed;
        measured.times.push(elapsed);
        measured.bytes.push(body.len());
        match measured
            .statuses
            .iter_mut()
            .find(|(seen, _)| *seen == status)
        {
            Some((_, count)) => *count += 1,
            None => measured.statuses.push((status, 1)),
        }
    }
    measured.times.sort_unstable();
    measured.bytes.sort_unstable();
    eprintln!(
        "tansiq-console-bench: {}: {} requests in {:.1} s",
        page.name,
        args.warmup + measured.times.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(measured)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// The nearest-rank percentile `p` of sorted `values`.
fn percentile<T: Copy>(sorted: &[T], p: usize) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    Some(sorted[rank - 1])
}

fn millis(duration: Option<Duration>) -> String {
    duration.map_or_else(
        || "-".to_owned(),
        |duration| format!("{:.1}", duration.as_secs_f64() * 1e3),
    )
}

/// 1234567 → "1,234,567".
fn grouped(value: usize) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// VmRSS and VmHWM of `pid`, kB.
fn memory(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("{name} in /proc/{pid}/status"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// Times `calls` inclusion proofs of random positions and consistency
/// proofs from random sizes to the whole tree, checking each against the
/// node's tree head (sorted times per kind).
async fn prove(
    node: &Node,
    calls: usize,
    rng: &mut StdRng,
) -> anyhow::Result<Vec<(&'static str, Vec<Duration>)>> {
    use tansiq_ledger::tree::{check_consistency, check_inclusion, proof_hashes, Hash};
    use tansiq_proto::v1 as pb;
    let mut client = node.client().await;
    let head = client
        .get_tree_head(pb::GetTreeHeadRequest { size: 0 })
        .await?
        .into_inner();
    let root = Hash(head.root.as_slice().try_into()?);
    let (mut inclusion, mut consistency) = (Vec::new(), Vec::new());
    for _ in 0..calls {
        let position = rng.gen_range(1..=head.size);
        let started = Instant::now();
        let proof = client
            .get_inclusion_proof(pb::GetInclusionProofRequest {
                event: Some(pb::get_inclusion_proof_request::Event::Position(position)),
                tree_size: head.size,
            })
            .await?
            .into_inner();
        inclusion.push(started.elapsed());
        let entry = prost::Message::encode_to_vec(&proof.event.context("no event")?);
        check_inclusion(
            &proof_hashes(&proof.hashes)?,
            head.size,
            root,
            position - 1,
            &entry,
        )?;

        let old = rng.gen_range(1..=head.size);
        let started = Instant::now();
        let proof = client
            .get_consistency_proof(pb::GetConsistencyProofRequest {
                old_size: old,
                new_size: head.size,
            })
            .await?
            .into_inner();
        consistency.push(started.elapsed());
        let old_root = Hash(
            proof
                .old
                .context("no old head")?
                .root
                .as_slice()
                .try_into()?,
        );
        check_consistency(
            &proof_hashes(&proof.hashes)?,
            head.size,
            root,
            old,
            old_root,
        )?;
    }
    inclusion.sort();
    consistency.sort();
    Ok(vec![
        ("inclusion, random position", inclusion),
        ("consistency, random size to the whole tree", consistency),
    ])
}
