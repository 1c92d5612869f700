//! Load generator (not a test: it asserts nothing, and its figures depend on
//! the machine): resource attacks on a real `tansiq-node`, each against a
//! fresh node, with for each attack
//!
//! - the node's resident memory: VmRSS sampled every 100 ms during the
//!   attack (its maximum is the "peak RSS"), and VmHWM (peak since the
//!   process started, setup included) at the end;
//! - the most files it had open at once (entries of /proc/PID/fd, sampled);
//! - a bystander: every 200 ms it opens a new connection from 127.0.0.2,
//!   asks GetHead and submits a new event signed by the dev ministry key;
//!   its successes, failures, and the median and max latency of its calls
//!   (GetHead's includes connecting and the TLS handshake);
//! - what the attacker (always from 127.0.0.3) got back.
//!
//! All traffic goes to 127.0.0.1 on this machine; every attack is bounded in
//! count and time. Run it with `bench/attack.sh`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Parser;
use tansiq_ledger::author::{now_ms, Author};
use tansiq_ledger::ids::OrgId;
use tansiq_ledger::signing::{ChainId, KeyPair};
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::ledger_client::LedgerClient;
use tansiq_tests::events;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{sleep, sleep_until, timeout};
use tokio_rustls::rustls;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

const BYSTANDER_FROM: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const ATTACKER_FROM: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
const MIB: usize = 1024 * 1024;
/// The name every dev node certificate carries.
const SERVER_NAME: &str = "localhost";

#[derive(Parser)]
#[command(
    about = "Resource attacks on a real tansiq-node: its memory, open files, and a bystander"
)]
struct Args {
    /// Run only these attacks (comma-separated names; default: all).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

const ATTACKS: [&str; 9] = [
    "baseline-no-attack",
    "anonymous-huge-cluster-message",
    "slow-submitbatch",
    "many-small-submitbatch",
    "subscribe-no-read",
    "connection-flood",
    "slow-loris-streams",
    "unregistered-key-flood",
    "plan-import-flood",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    for name in &args.only {
        if !ATTACKS.contains(&name.as_str()) {
            bail!(
                "unknown attack {name:?}; the attacks: {}",
                ATTACKS.join(", ")
            );
        }
    }
    let bin_dir = tansiq_tests::bin_dir();
    println!(
        "tansiq-attack: binaries in {}, build {}, bystander from {BYSTANDER_FROM}, attacker from {ATTACKER_FROM}, {} cores",
        bin_dir.display(),
        tansiq_tests::build_profile(),
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    let mut rows = Vec::new();
    for name in ATTACKS {
        if !args.only.is_empty() && !args.only.iter().any(|only| only == name) {
            continue;
        }
        println!("\n== {name}");
        let started = Instant::now();
        let result = match name {
            "baseline-no-attack" => baseline(&bin_dir).await,
            "anonymous-huge-cluster-message" => anonymous_huge_cluster_message(&bin_dir).await,
            "slow-submitbatch" => slow_submitbatch(&bin_dir).await,
            "many-small-submitbatch" => many_small_submitbatch(&bin_dir).await,
            "subscribe-no-read" => subscribe_no_read(&bin_dir).await,
            "connection-flood" => connection_flood(&bin_dir).await,
            "slow-loris-streams" => slow_loris_streams(&bin_dir).await,
            "unregistered-key-flood" => unregistered_key_flood(&bin_dir).await,
            "plan-import-flood" => plan_import_flood(&bin_dir).await,
            _ => unreachable!("checked against ATTACKS"),
        };
        match result {
            Ok(row) => {
                println!("{row}");
                rows.push(row);
            }
            Err(error) => {
                println!("{name}: the attack could not run: {error:#}");
                rows.push(Row::failed(name, format!("{error:#}")));
            }
        }
        println!("({name} took {:.0} s)", started.elapsed().as_secs_f64());
    }
    print_table(&rows);
    Ok(())
}

// --- The attacks --------------------------------------------------------------

/// No attack: what the bystander and the node look like on an idle node.
async fn baseline(bin_dir: &Path) -> anyhow::Result<Row> {
    let node = TestNode::start(bin_dir, false).await?;
    let under = UnderAttack::start(&node).await?;
    sleep(Duration::from_secs(5)).await;
    under
        .finish(node, "baseline-no-attack", "no attack, 5 s".into())
        .await
}

/// 3 TLS connections without a client certificate, each sending an
/// AppendEntries whose gRPC prefix declares a 4 GiB message, then 1 MiB
/// every 50 ms (up to 256 MiB) until the node answers.
async fn anonymous_huge_cluster_message(bin_dir: &Path) -> anyhow::Result<Row> {
    const CONNECTIONS: usize = 3;
    const SEND_MAX: usize = 256 * MIB;
    let node = TestNode::start(bin_dir, true).await?;
    node.cluster_init().await?;
    let tls = tls_connector(&node.ca_pem()?)?;
    let under = UnderAttack::start(&node).await?;
    let mut attackers = JoinSet::new();
    for _ in 0..CONNECTIONS {
        let (tls, address) = (tls.clone(), node.address);
        attackers.spawn(async move {
            let (sender, _connection) = match h2_connect(ATTACKER_FROM, address, &tls).await {
                Ok(connected) => connected,
                Err(error) => return (format!("connect failed: {error:#}"), 0),
            };
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            let pacing = Pacing {
                chunk: MIB,
                pause: Some(Duration::from_millis(50)),
            };
            stream_grpc(
                sender,
                "/tansiq.v1.Cluster/AppendEntries",
                u32::MAX,
                SEND_MAX,
                pacing,
                deadline,
            )
            .await
        });
    }
    let mut outcomes = Tally::default();
    let mut sent_max = 0;
    while let Some(joined) = attackers.join_next().await {
        let (outcome, sent) = joined.context("an attacker task panicked")?;
        outcomes.add(outcome);
        sent_max = sent_max.max(sent);
    }
    let summary = format!(
        "{CONNECTIONS} streams declaring 4 GiB: {outcomes}; at most {:.1} MiB of body sent before the answer",
        sent_max as f64 / MIB as f64
    );
    under
        .finish(node, "anonymous-huge-cluster-message", summary)
        .await
}

/// 200 SubmitBatch streams over 10 connections, each declaring a 16 MiB - 1
/// message, sending 15 MiB of it as fast as flow control lets, then
/// stalling, until 25 s after the start.
async fn slow_submitbatch(bin_dir: &Path) -> anyhow::Result<Row> {
    let shape = Stalled {
        connections: 10,
        streams_per_connection: 20,
        sent: 15 * MIB,
        hold: Duration::from_secs(25),
    };
    stalled_submitbatch(bin_dir, "slow-submitbatch", shape).await
}

/// Beyond the brief's six: 1,024 SubmitBatch streams (32 connections of 32)
/// each declaring a 16 MiB - 1 message and sending only 48 KiB of it (48 MiB
/// in all, under the 64 MiB an address may have in flight), held 15 s.
/// Tests whether what the node holds per stream is what was sent or more.
async fn many_small_submitbatch(bin_dir: &Path) -> anyhow::Result<Row> {
    let shape = Stalled {
        connections: 32,
        streams_per_connection: 32,
        sent: 48 * 1024,
        hold: Duration::from_secs(15),
    };
    stalled_submitbatch(bin_dir, "many-small-submitbatch", shape).await
}

/// SubmitBatch streams from the attacker that declare a 16 MiB - 1 message,
/// send `sent` bytes of it and stall.
struct Stalled {
    connections: usize,
    streams_per_connection: usize,
    sent: usize,
    hold: Duration,
}

async fn stalled_submitbatch(bin_dir: &Path, attack: &str, shape: Stalled) -> anyhow::Result<Row> {
    const DECLARED: u32 = 16 * 1024 * 1024 - 1;
    let node = TestNode::start(bin_dir, false).await?;
    let tls = tls_connector(&node.ca_pem()?)?;
    let under = UnderAttack::start(&node).await?;
    let deadline = tokio::time::Instant::now() + shape.hold;
    let mut attackers = JoinSet::new();
    let mut connect_failures = Tally::default();
    for _ in 0..shape.connections {
        let sender = match h2_connect(ATTACKER_FROM, node.address, &tls).await {
            Ok((sender, _connection)) => sender,
            Err(error) => {
                connect_failures.add(format!("connect failed: {error:#}"));
                continue;
            }
        };
        for _ in 0..shape.streams_per_connection {
            let sender = sender.clone();
            let pacing = Pacing {
                chunk: MIB,
                pause: None,
            };
            let path = "/tansiq.v1.Ledger/SubmitBatch";
            attackers.spawn(stream_grpc(
                sender, path, DECLARED, shape.sent, pacing, deadline,
            ));
        }
    }
    let mut outcomes = Tally::default();
    let mut fully_sent = 0;
    let mut sent_total = 0;
    while let Some(joined) = attackers.join_next().await {
        let (outcome, sent) = joined.context("an attacker task panicked")?;
        fully_sent += usize::from(sent >= shape.sent);
        sent_total += sent;
        outcomes.add(outcome);
    }
    let summary = format!(
        "{} streams declaring 16 MiB-1, sending {} KiB each then stalling: {outcomes}{}; {fully_sent} sent all of it; {:.0} MiB sent in all",
        shape.connections * shape.streams_per_connection,
        shape.sent / 1024,
        connect_failures.prefixed("; "),
        sent_total as f64 / MIB as f64
    );
    under.finish(node, attack, summary).await
}

/// Loads 20,000 events, then opens 100 Subscribe streams from position 1
/// (5 connections) and never reads them, for 15 s.
async fn subscribe_no_read(bin_dir: &Path) -> anyhow::Result<Row> {
    const EVENTS: usize = 20_000;
    const BATCH: usize = 1_000;
    const CONNECTIONS: usize = 5;
    const STREAMS: usize = 100;
    let node = TestNode::start(bin_dir, false).await?;
    let loading = Instant::now();
    {
        let mut client = LedgerClient::new(node.channel(None).await?);
        let mut ministry = tansiq_tests::try_author(&mut client, &node.ministry_key()).await?;
        for batch in 0..EVENTS / BATCH {
            let signed = (0..BATCH)
                .map(|n| {
                    let pcode = format!("LYL{:06}", batch * BATCH + n);
                    ministry
                        .sign(events::municipality(&pcode, "", 1), now_ms())
                        .0
                })
                .collect();
            let receipts = client
                .submit_batch(pb::SubmitBatchRequest { events: signed })
                .await
                .context("load the ledger")?
                .into_inner()
                .receipts;
            if receipts.len() != BATCH {
                bail!("loading: {} receipts for {BATCH} events", receipts.len());
            }
        }
    }
    println!(
        "loaded {EVENTS} events in batches of {BATCH} in {:.1} s",
        loading.elapsed().as_secs_f64()
    );
    let under = UnderAttack::start(&node).await?;
    let mut channels = Vec::new();
    let mut outcomes = Tally::default();
    for _ in 0..CONNECTIONS {
        match node.channel(Some(ATTACKER_FROM)).await {
            Ok(channel) => channels.push(channel),
            Err(error) => outcomes.add(format!("connect failed: {error:#}")),
        }
    }
    // Held, never polled: the node can send only what flow control lets it.
    let mut held = Vec::new();
    if !channels.is_empty() {
        for index in 0..STREAMS {
            let mut client = LedgerClient::new(channels[index % channels.len()].clone());
            let opened = timeout(
                Duration::from_secs(10),
                client.subscribe(pb::SubscribeRequest { from_position: 1 }),
            )
            .await;
            match opened {
                Ok(Ok(stream)) => {
                    outcomes.add("opened, never read".into());
                    held.push(stream.into_inner());
                }
                Ok(Err(status)) => outcomes.add(code_name(status.code())),
                Err(_) => outcomes.add("no answer within 10 s".into()),
            }
        }
    }
    sleep(Duration::from_secs(15)).await;
    drop(held);
    drop(channels);
    let summary = format!("{STREAMS} Subscribe from 1 over {CONNECTIONS} connections: {outcomes}");
    under.finish(node, "subscribe-no-read", summary).await
}

/// 2,000 TCP connections that never start TLS, held 15 s.
async fn connection_flood(bin_dir: &Path) -> anyhow::Result<Row> {
    const CONNECTIONS: usize = 2_000;
    const HOLD: Duration = Duration::from_secs(15);
    let node = TestNode::start(bin_dir, false).await?;
    let under = UnderAttack::start(&node).await?;
    let overflows_before = listen_overflows();
    let started = tokio::time::Instant::now();
    let end = started + HOLD;
    let connecting = Arc::new(Semaphore::new(200));
    let mut attackers = JoinSet::new();
    for _ in 0..CONNECTIONS {
        let (connecting, address) = (Arc::clone(&connecting), node.address);
        attackers.spawn(async move {
            let permit = connecting.acquire_owned().await;
            let connected = timeout(Duration::from_secs(5), tcp_from(ATTACKER_FROM, address)).await;
            drop(permit);
            let mut stream = match connected {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => return Held::ConnectFailed(error.kind().to_string()),
                Err(_) => return Held::ConnectFailed("connect timed out (5 s)".into()),
            };
            let from = started.elapsed();
            let mut byte = [0u8; 1];
            tokio::select! {
                // End of stream or an error: the node closed it.
                _ = stream.read(&mut byte) => Held::Closed { from, to: started.elapsed() },
                () = sleep_until(end) => Held::Open { from },
            }
        });
    }
    let (mut at_once, mut later, mut open) = (0, Vec::new(), 0);
    let mut failed = Tally::default();
    // (connected, closed or the end) of those the node did not close at once.
    let mut held = Vec::new();
    let mut last_connect = Duration::ZERO;
    while let Some(joined) = attackers.join_next().await {
        match joined.context("an attacker task panicked")? {
            Held::ConnectFailed(why) => failed.add(why),
            Held::Closed { from, to } => {
                last_connect = last_connect.max(from);
                if to - from < Duration::from_secs(1) {
                    at_once += 1;
                } else {
                    later.push((to - from).as_secs_f64());
                    held.push((from, to));
                }
            }
            Held::Open { from } => {
                last_connect = last_connect.max(from);
                open += 1;
                held.push((from, HOLD));
            }
        }
    }
    let overflows = match (overflows_before, listen_overflows()) {
        (Some(before), Some(after)) => (after - before).to_string(),
        _ => "?".into(),
    };
    later.sort_by(f64::total_cmp);
    let later_text = match (later.first(), later.last()) {
        (Some(first), Some(last)) => format!(
            "{} closed by the node {first:.1}-{last:.1} s after connecting",
            later.len()
        ),
        _ => "0 closed later".into(),
    };
    let summary = format!(
        "{CONNECTIONS} TCP connections, no TLS (the last connected {:.1} s after the start): {at_once} closed by the node within 1 s, {later_text}, {open} still open at the end ({} s after the start); at most {} open at once for more than 1 s; {overflows} handshakes the kernel left unfinished because the node's accept queue was full (TcpExt ListenOverflows, this machine){}",
        last_connect.as_secs_f64(),
        HOLD.as_secs(),
        most_at_once(&held),
        failed.prefixed("; connect failed: ")
    );
    under.finish(node, "connection-flood", summary).await
}

enum Held {
    ConnectFailed(String),
    /// Connected and closed by the node, since the start.
    Closed {
        from: Duration,
        to: Duration,
    },
    /// Connected, since the start, and still open at the end.
    Open {
        from: Duration,
    },
}

/// This machine's count of connections whose handshake the kernel did not
/// finish because a listener's accept queue was full (TcpExt
/// ListenOverflows): such a connection looks open to its client, which
/// sends nothing, until the kernel finishes it later.
fn listen_overflows() -> Option<u64> {
    let netstat = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut tcp_ext = netstat.lines().filter(|line| line.starts_with("TcpExt:"));
    let (names, values) = (tcp_ext.next()?, tcp_ext.next()?);
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "ListenOverflows")
        .and_then(|(_, value)| value.parse().ok())
}

/// The most intervals open at one time.
fn most_at_once(intervals: &[(Duration, Duration)]) -> usize {
    let mut edges: Vec<(Duration, i32)> = intervals
        .iter()
        .flat_map(|&(from, to)| [(from, 1), (to, -1)])
        .collect();
    // Closings before openings at the same instant.
    edges.sort();
    let (mut open, mut most) = (0i32, 0i32);
    for (_, change) in edges {
        open += change;
        most = most.max(open);
    }
    usize::try_from(most).unwrap_or_default()
}

/// 130 HTTP/2 connections (the node allows 128 per address), each opening
/// 32 SubmitBatch streams that send headers and never a body; held 15 s.
async fn slow_loris_streams(bin_dir: &Path) -> anyhow::Result<Row> {
    const CONNECTIONS: usize = 130;
    const STREAMS_PER_CONNECTION: usize = 32;
    const HOLD: Duration = Duration::from_secs(15);
    let node = TestNode::start(bin_dir, false).await?;
    let tls = tls_connector(&node.ca_pem()?)?;
    let under = UnderAttack::start(&node).await?;
    let end = tokio::time::Instant::now() + HOLD;
    let mut connecting = JoinSet::new();
    for _ in 0..CONNECTIONS {
        let (tls, address) = (tls.clone(), node.address);
        connecting.spawn(async move {
            timeout(
                Duration::from_secs(10),
                h2_connect(ATTACKER_FROM, address, &tls),
            )
            .await
            .map_err(|_| anyhow::anyhow!("no HTTP/2 connection within 10 s"))
            .and_then(|connected| connected)
        });
    }
    let mut connections = Tally::default();
    let mut streams = JoinSet::new();
    let mut opened = 0;
    let mut open_failed = Tally::default();
    while let Some(joined) = connecting.join_next().await {
        let mut sender = match joined.context("a connecting task panicked")? {
            Ok((sender, _connection)) => {
                connections.add("connected".into());
                sender
            }
            Err(error) => {
                connections.add(short_error(&error));
                continue;
            }
        };
        for _ in 0..STREAMS_PER_CONNECTION {
            let ready = match timeout(Duration::from_secs(5), sender.clone().ready()).await {
                Ok(Ok(ready)) => ready,
                Ok(Err(error)) => {
                    open_failed.add(format!("h2: {error}"));
                    break;
                }
                Err(_) => {
                    open_failed.add("no stream slot within 5 s".into());
                    break;
                }
            };
            sender = ready;
            match sender.send_request(grpc_request("/tansiq.v1.Ledger/SubmitBatch")?, false) {
                Ok((response, body)) => {
                    opened += 1;
                    streams.spawn(async move {
                        let _body = body; // never sends a byte of it
                        tokio::select! {
                            answer = grpc_answer(response) => answer,
                            () = sleep_until(end) => "no answer (held)".into(),
                        }
                    });
                }
                Err(error) => open_failed.add(format!("h2: {error}")),
            }
        }
    }
    let mut outcomes = Tally::default();
    while let Some(joined) = streams.join_next().await {
        outcomes.add(joined.context("a stream task panicked")?);
    }
    let summary = format!(
        "{CONNECTIONS} connections ({connections}); {opened} header-only streams: {outcomes}{} within {} s",
        open_failed.prefixed("; not opened: "),
        HOLD.as_secs()
    );
    under.finish(node, "slow-loris-streams", summary).await
}

/// A 1-node cluster: 30 SubmitBatch requests of 1,000 events, each event
/// signed by a fresh key never registered (valid signatures), all at once.
async fn unregistered_key_flood(bin_dir: &Path) -> anyhow::Result<Row> {
    const REQUESTS: usize = 30;
    const EVENTS: usize = 1_000;
    let node = TestNode::start(bin_dir, true).await?;
    node.cluster_init().await?;
    let chain = {
        let mut client = LedgerClient::new(node.channel(None).await?);
        let head = client.get_head(pb::GetHeadRequest {}).await?.into_inner();
        ChainId::parse(&head.chain_id)?
    };
    let ministry = OrgId::parse("ministry")?;
    let signing = Instant::now();
    let requests: Vec<pb::SubmitBatchRequest> = (0..REQUESTS)
        .map(|request| pb::SubmitBatchRequest {
            events: (0..EVENTS)
                .map(|n| {
                    let mut stranger = Author::new(
                        chain.clone(),
                        ministry.clone(),
                        KeyPair::generate(),
                        0,
                        None,
                    );
                    let pcode = format!("LYU{request:02}{n:04}");
                    stranger
                        .sign(events::municipality(&pcode, "", 1), now_ms())
                        .0
                })
                .collect(),
        })
        .collect();
    println!(
        "signed {} events with as many throw-away keys in {:.1} s",
        REQUESTS * EVENTS,
        signing.elapsed().as_secs_f64()
    );
    let log_before = node.last_log_index().await?;
    let under = UnderAttack::start(&node).await?;
    let channel = node.channel(Some(ATTACKER_FROM)).await?;
    let mut attackers = JoinSet::new();
    for request in requests {
        let mut client = LedgerClient::new(channel.clone())
            .max_decoding_message_size(64 * MIB)
            .max_encoding_message_size(64 * MIB);
        attackers.spawn(async move {
            match timeout(Duration::from_secs(60), client.submit_batch(request)).await {
                Ok(Ok(response)) => {
                    format!("OK ({} receipts)", response.into_inner().receipts.len())
                }
                Ok(Err(status)) => code_name(status.code()),
                Err(_) => "no answer within 60 s".into(),
            }
        });
    }
    let mut outcomes = Tally::default();
    while let Some(joined) = attackers.join_next().await {
        outcomes.add(joined.context("an attacker task panicked")?);
    }
    // The bystander's own submissions go through the log too; stop it first.
    let bystander = under.bystander.stop().await;
    sleep(Duration::from_secs(1)).await;
    let log_after = node.last_log_index().await?;
    let summary = format!(
        "{REQUESTS} x {EVENTS} events by unregistered keys: {outcomes}; Raft lastLogIndex {log_before} -> {log_after} (the bystander's {} committed submissions included)",
        bystander.submits_ok
    );
    let watched = under.watch.stop().await;
    Ok(Row::new("unregistered-key-flood", watched, bystander, summary, node).await)
}

/// The trust issue's finding 10: a 601 MiB stream to PlanIatiImport made a
/// node hold +745 MB. Two streams of an endless IATI file (small
/// activities, 1 MiB chunks, up to 600 MiB each): one anonymous (no signed
/// first chunk), one signed by the ministry's key; the node plans as the
/// file streams and stops at its activity limit.
async fn plan_import_flood(bin_dir: &Path) -> anyhow::Result<Row> {
    use tansiq_proto::v1::interchange_client::InterchangeClient;
    const CHUNK: usize = MIB;
    const CHUNKS: usize = 600;
    let node = TestNode::start(bin_dir, false).await?;
    let chain = {
        let mut client = LedgerClient::new(node.channel(None).await?);
        let head = client.get_head(pb::GetHeadRequest {}).await?.into_inner();
        ChainId::parse(&head.chain_id)?
    };
    let (_, key) = tansiq_ledger::author::KeyFile::read(&node.ministry_key())
        .context("read the dev ministry key")?;
    let under = UnderAttack::start(&node).await?;
    let channel = node.channel(Some(ATTACKER_FROM)).await?;
    let sent = Arc::new(AtomicUsize::new(0));
    let mut attackers = JoinSet::new();
    for signed in [false, true] {
        let first = if signed {
            let signed_at_ms = now_ms();
            pb::IatiImportChunk {
                org_id: "ministry".into(),
                signer_key: key.public().0.to_vec(),
                signed_at_ms,
                signature: key
                    .sign_bytes(&tansiq_ledger::signing::plan_request_bytes(
                        &chain,
                        "ministry",
                        signed_at_ms,
                    ))
                    .to_vec(),
                ..Default::default()
            }
        } else {
            pb::IatiImportChunk {
                org_id: "ministry".into(),
                ..Default::default()
            }
        };
        let sent = Arc::clone(&sent);
        let mut client = InterchangeClient::new(channel.clone());
        attackers.spawn(async move {
            // Generated as the node reads it: the attacker holds one chunk.
            let mut activity = 0_u64;
            let chunks = (0..CHUNKS).map(move |index| {
                let mut data = Vec::with_capacity(CHUNK + 512);
                if index == 0 {
                    data.extend_from_slice(b"<?xml version=\"1.0\"?><iati-activities version=\"2.03\">");
                }
                while data.len() < CHUNK {
                    activity += 1;
                    data.extend_from_slice(format!(
                        "<iati-activity><iati-identifier>XM-FLOOD-{activity}</iati-identifier><reporting-org ref=\"XM-FLOOD\"/><title><narrative>Flood {activity}</narrative></title></iati-activity>"
                    ).as_bytes());
                }
                sent.fetch_add(data.len(), Ordering::Relaxed);
                let mut chunk = if index == 0 { first.clone() } else { pb::IatiImportChunk::default() };
                chunk.data = data;
                chunk
            });
            let outcome = timeout(
                Duration::from_secs(120),
                client.plan_iati_import(tokio_stream::iter(chunks)),
            )
            .await;
            let who = if signed { "signed" } else { "anonymous" };
            match outcome {
                Ok(Ok(plan)) => format!("{who}: a plan of {} activities read", plan.into_inner().activities_read),
                Ok(Err(status)) => format!("{who}: {}", code_name(status.code())),
                Err(_) => format!("{who}: no answer within 120 s"),
            }
        });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = attackers.join_next().await {
        outcomes.push(joined.context("an attacker task panicked")?);
    }
    outcomes.sort();
    let summary = format!(
        "2 streams of an endless IATI file in 1 MiB chunks (one unsigned, one signed by the ministry): {}; {} MiB sent in all",
        outcomes.join(", "),
        sent.load(Ordering::Relaxed) / CHUNK
    );
    under.finish(node, "plan-import-flood", summary).await
}

// --- A node under test ------------------------------------------------------------

/// A `tansiq-node --dev` on a free loopback port, TLS with its dev CA, with
/// its data (and its log, `node.log`) in a temporary directory.
struct TestNode {
    child: Child,
    address: SocketAddr,
    dir: tempfile::TempDir,
    bin_dir: PathBuf,
    /// Kept open: the node's standard output must not be a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl TestNode {
    /// `member`: a cluster member (node id 1) to form with [`TestNode::cluster_init`].
    async fn start(bin_dir: &Path, member: bool) -> anyhow::Result<TestNode> {
        let dir = tempfile::tempdir()?;
        let log = std::fs::File::create(dir.path().join("node.log"))?;
        let mut command = Command::new(bin_dir.join("tansiq-node"));
        command
            .args(["--dev", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        if member {
            command.args(["--node-id", "1"]);
        }
        let mut child = command.spawn().context("start tansiq-node")?;
        let mut stdout = BufReader::new(child.stdout.take().context("the node's stdout")?);
        let mut line = String::new();
        timeout(Duration::from_secs(60), stdout.read_line(&mut line))
            .await
            .context("tansiq-node did not say where it listens within 60 s")??;
        let address: SocketAddr = line
            .trim()
            .strip_prefix("tansiq-node listening on ")
            .with_context(|| {
                format!(
                    "unexpected first line from tansiq-node: {line:?} (its log: {})",
                    dir.path().join("node.log").display()
                )
            })?
            .parse()?;
        let node = TestNode {
            child,
            address,
            dir,
            bin_dir: bin_dir.to_path_buf(),
            _stdout: stdout,
        };
        println!(
            "node pid {} on {} ({})",
            node.pid()?,
            node.url(),
            if member {
                "cluster member 1"
            } else {
                "single node"
            }
        );
        Ok(node)
    }

    fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("the node has exited")
    }

    fn url(&self) -> String {
        format!("https://{}", self.address)
    }

    fn tls_dir(&self) -> PathBuf {
        self.dir.path().join("tls")
    }

    fn ca_pem(&self) -> anyhow::Result<Vec<u8>> {
        let path = self.tls_dir().join("ca.pem");
        std::fs::read(&path).with_context(|| format!("read {}", path.display()))
    }

    fn ministry_key(&self) -> PathBuf {
        self.dir.path().join("ministry.key")
    }

    /// A new connection to the node (from `from`, or the default address).
    async fn channel(&self, from: Option<IpAddr>) -> anyhow::Result<Channel> {
        endpoint(&self.url(), &self.ca_pem()?, from)?
            .connect()
            .await
            .context("connect to the node")
    }

    /// Runs the `tansiq` CLI as the dev administrator, with JSON output.
    async fn cli_as_admin(&self, args: &[&str]) -> anyhow::Result<serde_json::Value> {
        let tls = self.tls_dir();
        let output = Command::new(self.bin_dir.join("tansiq"))
            .arg("--node")
            .arg(self.url())
            .arg("--ca")
            .arg(tls.join("ca.pem"))
            .arg("--tls-cert")
            .arg(tls.join("admin.pem"))
            .arg("--tls-key")
            .arg(tls.join("admin.key"))
            .args(["--output", "json"])
            .args(args)
            .output()
            .await
            .context("run tansiq")?;
        if !output.status.success() {
            bail!(
                "tansiq {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        serde_json::from_slice(&output.stdout).with_context(|| {
            format!(
                "tansiq {} printed no JSON: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stdout)
            )
        })
    }

    /// Forms a 1-node cluster of this node and waits until it leads.
    async fn cluster_init(&self) -> anyhow::Result<()> {
        let member = format!("1={}", self.url());
        let key = self.ministry_key().display().to_string();
        self.cli_as_admin(&["cluster", "--key", &key, "init", "--member", &member])
            .await?;
        for _ in 0..100 {
            let status = self.cli_as_admin(&["cluster", "status"]).await?;
            if status["hasLeader"].as_bool() == Some(true) {
                return Ok(());
            }
            sleep(Duration::from_millis(200)).await;
        }
        bail!("the 1-node cluster elected no leader within 20 s")
    }

    /// The node's Raft lastLogIndex (`tansiq cluster status`).
    async fn last_log_index(&self) -> anyhow::Result<u64> {
        let status = self.cli_as_admin(&["cluster", "status"]).await?;
        // Protobuf JSON: a u64 is a string, and 0 is left out.
        match &status["lastLogIndex"] {
            serde_json::Value::Null => Ok(0),
            index => index
                .as_u64()
                .or_else(|| index.as_str().and_then(|text| text.parse().ok()))
                .with_context(|| format!("lastLogIndex is not a number: {status}")),
        }
    }

    /// "yes", or how the node ended and the end of its log.
    fn alive(&mut self) -> String {
        match self.child.try_wait() {
            Ok(None) => "yes".into(),
            Ok(Some(status)) => {
                let log =
                    std::fs::read_to_string(self.dir.path().join("node.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                println!("the node EXITED ({status}); the end of its log:");
                for line in tail.iter().rev() {
                    println!("  {line}");
                }
                format!("NO ({status})")
            }
            Err(error) => format!("unknown ({error})"),
        }
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A tonic endpoint to the node trusting its CA, from `from` when given.
fn endpoint(url: &str, ca_pem: &[u8], from: Option<IpAddr>) -> anyhow::Result<Endpoint> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(ca_pem))
                .domain_name(SERVER_NAME),
        )?
        .local_address(from)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10)))
}

// --- Watching the node ---------------------------------------------------------------

/// Samples the node's VmRSS and open files every 100 ms until stopped.
struct Watch {
    stop: Arc<AtomicBool>,
    sampler: tokio::task::JoinHandle<Watched>,
}

#[derive(Default)]
struct Watched {
    rss_before_kib: u64,
    rss_max_kib: u64,
    hwm_kib: u64,
    /// AnonHugePages (transparent huge pages) when the RSS peaked.
    huge_at_peak_kib: u64,
    /// VmRSS at the last sample, when the attack ended.
    rss_end_kib: u64,
    fds_max: usize,
    samples: usize,
}

impl Watch {
    fn start(pid: u32) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let sampler = tokio::spawn(async move {
            let mut watched = Watched {
                rss_before_kib: memory(pid).map_or(0, |(rss, _)| rss),
                ..Watched::default()
            };
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
                if let Some((rss, hwm)) = memory(pid) {
                    if rss > watched.rss_max_kib {
                        watched.rss_max_kib = rss;
                        watched.huge_at_peak_kib = huge_pages(pid).unwrap_or_default();
                    }
                    watched.rss_end_kib = rss;
                    watched.hwm_kib = hwm;
                }
                if let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
                    watched.fds_max = watched.fds_max.max(fds.count());
                }
                watched.samples += 1;
                if stopped.load(Ordering::Relaxed) {
                    return watched;
                }
            }
        });
        Watch { stop, sampler }
    }

    async fn stop(self) -> Watched {
        self.stop.store(true, Ordering::Relaxed);
        self.sampler.await.unwrap_or_default()
    }
}

/// VmRSS and VmHWM of `pid`, KiB.
fn memory(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// AnonHugePages of `pid`, KiB.
fn huge_pages(pid: u32) -> Option<u64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    rollup
        .lines()
        .find_map(|line| line.strip_prefix("AnonHugePages:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

// --- The bystander -------------------------------------------------------------------

/// Every 200 ms: a new connection from 127.0.0.2, GetHead, and Submit of a
/// new municipality signed by the dev ministry key.
struct Bystander {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Served>,
}

#[derive(Default)]
struct Served {
    ok: usize,
    failed: usize,
    submits_ok: usize,
    latencies: Vec<Duration>,
    failures: Tally,
}

impl Served {
    fn record(&mut self, started: Instant, result: Result<(), String>) {
        self.latencies.push(started.elapsed());
        match result {
            Ok(()) => self.ok += 1,
            Err(why) => {
                self.failed += 1;
                self.failures.add(why);
            }
        }
    }

    fn latency_ms(&self, q: f64) -> Option<f64> {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let index = ((sorted.len().checked_sub(1)?) as f64 * q).round() as usize;
        Some(sorted[index].as_secs_f64() * 1e3)
    }
}

impl Bystander {
    fn start(url: String, ca_pem: Vec<u8>, ministry_key: PathBuf) -> Bystander {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            let mut served = Served::default();
            let mut author: Option<Author> = None;
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut round = 0u64;
            while !stopped.load(Ordering::Relaxed) {
                tick.tick().await;
                round += 1;
                bystander_round(
                    &url,
                    &ca_pem,
                    &ministry_key,
                    &mut author,
                    round,
                    &mut served,
                )
                .await;
            }
            served
        });
        Bystander { stop, task }
    }

    async fn stop(self) -> Served {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap_or_default()
    }
}

async fn bystander_round(
    url: &str,
    ca_pem: &[u8],
    ministry_key: &Path,
    author: &mut Option<Author>,
    round: u64,
    served: &mut Served,
) {
    // GetHead, on a new connection (its time includes connecting).
    let started = Instant::now();
    let connected = match endpoint(url, ca_pem, Some(BYSTANDER_FROM)) {
        Ok(endpoint) => endpoint.connect().await.map_err(|error| {
            let source = std::error::Error::source(&error).map(ToString::to_string);
            format!("connect: {}", source.unwrap_or_else(|| error.to_string()))
        }),
        Err(error) => Err(format!("endpoint: {error}")),
    };
    let mut client = match connected {
        Ok(channel) => LedgerClient::new(channel),
        Err(why) => {
            served.record(started, Err(why.clone()));
            served.record(started, Err(why));
            return;
        }
    };
    let head = client.get_head(pb::GetHeadRequest {}).await;
    served.record(
        started,
        head.map(drop).map_err(|status| code_name(status.code())),
    );

    // Submit: the ministry's next event (its chain position is read again
    // after a failure, which may or may not have committed).
    if author.is_none() {
        *author = tansiq_tests::try_author(&mut client, ministry_key)
            .await
            .ok();
    }
    let started = Instant::now();
    let Some(signer) = author.as_mut() else {
        served.record(started, Err("cannot read the ministry key's head".into()));
        return;
    };
    let pcode = format!("LYB{round:07}");
    let (event, _) = signer.sign(events::municipality(&pcode, "", 1), now_ms());
    let submitted = client
        .submit(pb::SubmitRequest { event: Some(event) })
        .await;
    let result = match submitted {
        Ok(receipt) if receipt.get_ref().state == pb::ReceiptState::Committed as i32 => {
            served.submits_ok += 1;
            Ok(())
        }
        Ok(receipt) => Err(format!("receipt state {}", receipt.get_ref().state)),
        Err(status) => Err(code_name(status.code())),
    };
    if result.is_err() {
        *author = None;
    }
    served.record(started, result);
}

/// The node's watch and the bystander, during one attack.
struct UnderAttack {
    watch: Watch,
    bystander: Bystander,
}

impl UnderAttack {
    async fn start(node: &TestNode) -> anyhow::Result<UnderAttack> {
        let watch = Watch::start(node.pid()?);
        let bystander = Bystander::start(node.url(), node.ca_pem()?, node.ministry_key());
        // The first samples and bystander round before the attack starts.
        sleep(Duration::from_millis(300)).await;
        Ok(UnderAttack { watch, bystander })
    }

    async fn finish(self, node: TestNode, attack: &str, summary: String) -> anyhow::Result<Row> {
        let bystander = self.bystander.stop().await;
        let watched = self.watch.stop().await;
        Ok(Row::new(attack, watched, bystander, summary, node).await)
    }
}

// --- Raw HTTP/2 over TLS ----------------------------------------------------------------

/// TLS to the node trusting its dev CA, without a client certificate.
fn tls_connector(ca_pem: &[u8]) -> anyhow::Result<tokio_rustls::TlsConnector> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(certificate.context("read the CA")?)?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// A TCP connection to `to` from the loopback address `from`.
async fn tcp_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(to).await
}

/// An HTTP/2 connection over TLS from `from`; the returned task drives it
/// (it ends when the connection closes).
async fn h2_connect(
    from: IpAddr,
    to: SocketAddr,
    tls: &tokio_rustls::TlsConnector,
) -> anyhow::Result<(h2::client::SendRequest<Bytes>, tokio::task::JoinHandle<()>)> {
    let tcp = tcp_from(from, to).await.context("TCP connect")?;
    let name = rustls::pki_types::ServerName::try_from(SERVER_NAME)?;
    let tls = tls.connect(name, tcp).await.context("TLS handshake")?;
    let (sender, connection) = h2::client::handshake(tls)
        .await
        .context("HTTP/2 handshake")?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok((sender, driver))
}

fn grpc_request(path: &str) -> anyhow::Result<http::Request<()>> {
    Ok(http::Request::builder()
        .method("POST")
        .uri(format!("https://{SERVER_NAME}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())?)
}

/// How a body is sent: `chunk` bytes at a time, with `pause` between them
/// (None: as fast as the node's flow control lets).
#[derive(Clone, Copy)]
struct Pacing {
    chunk: usize,
    pause: Option<Duration>,
}

/// One gRPC request whose prefix declares a `declared`-byte message, of
/// which `send` bytes are sent, never all; until the node answers or
/// `deadline`. Returns the outcome and the body bytes sent.
async fn stream_grpc(
    sender: h2::client::SendRequest<Bytes>,
    path: &str,
    declared: u32,
    send: usize,
    pacing: Pacing,
    deadline: tokio::time::Instant,
) -> (String, usize) {
    let ready = tokio::select! {
        ready = sender.ready() => ready,
        () = sleep_until(deadline) => return ("no stream slot before the end".into(), 0),
    };
    let request = match grpc_request(path) {
        Ok(request) => request,
        Err(error) => return (format!("request: {error}"), 0),
    };
    let (response, mut body) =
        match ready.and_then(|mut sender| sender.send_request(request, false)) {
            Ok(opened) => opened,
            Err(error) => return (format!("h2: {error}"), 0),
        };
    let mut prefix = vec![0u8];
    prefix.extend_from_slice(&declared.to_be_bytes());
    let answer = grpc_answer(response);
    tokio::pin!(answer);
    let sent = AtomicUsize::new(0);
    let sending = send_body(&mut body, Bytes::from(prefix), send, pacing, &sent);
    tokio::select! {
        outcome = &mut answer => return (outcome, sent.load(Ordering::Relaxed)),
        () = sleep_until(deadline) => return ("no answer (held)".into(), sent.load(Ordering::Relaxed)),
        result = sending => {
            if let Err(error) = result {
                // A reset stream: its answer, if any, says why.
                let answer = timeout(Duration::from_secs(2), &mut answer).await;
                return (answer.unwrap_or_else(|_| format!("h2: {error}")), sent.load(Ordering::Relaxed));
            }
        }
    }
    // All sent; stall, holding the stream open, until answered or the end.
    tokio::select! {
        outcome = &mut answer => (outcome, sent.load(Ordering::Relaxed)),
        () = sleep_until(deadline) => ("no answer (held)".into(), sent.load(Ordering::Relaxed)),
    }
}

/// Sends `prefix`, then `total` zero bytes in paced chunks, each only once
/// the node's flow control gives room for it; counts bytes sent in `sent`.
async fn send_body(
    body: &mut h2::SendStream<Bytes>,
    prefix: Bytes,
    total: usize,
    pacing: Pacing,
    sent: &AtomicUsize,
) -> Result<(), h2::Error> {
    static ZEROS: [u8; MIB] = [0; MIB];
    send_with_capacity(body, prefix).await?;
    while sent.load(Ordering::Relaxed) < total {
        let chunk = pacing
            .chunk
            .min(total - sent.load(Ordering::Relaxed))
            .min(ZEROS.len());
        let mut data = Bytes::from_static(&ZEROS[..chunk]);
        while !data.is_empty() {
            body.reserve_capacity(data.len());
            let room = std::future::poll_fn(|context| body.poll_capacity(context))
                .await
                .ok_or_else(|| h2::Error::from(h2::Reason::STREAM_CLOSED))??;
            let part = data.split_to(room.min(data.len()));
            sent.fetch_add(part.len(), Ordering::Relaxed);
            body.send_data(part, false)?;
        }
        if let Some(pause) = pacing.pause {
            sleep(pause).await;
        }
    }
    Ok(())
}

async fn send_with_capacity(
    body: &mut h2::SendStream<Bytes>,
    mut data: Bytes,
) -> Result<(), h2::Error> {
    while !data.is_empty() {
        body.reserve_capacity(data.len());
        let room = std::future::poll_fn(|context| body.poll_capacity(context))
            .await
            .ok_or_else(|| h2::Error::from(h2::Reason::STREAM_CLOSED))??;
        body.send_data(data.split_to(room.min(data.len())), false)?;
    }
    Ok(())
}

/// The gRPC status of a response (headers or trailers), or how it failed.
async fn grpc_answer(response: h2::client::ResponseFuture) -> String {
    let response = match response.await {
        Ok(response) => response,
        Err(error) => return h2_failure(&error),
    };
    if let Some(code) = grpc_status(response.headers()) {
        return code;
    }
    let mut body = response.into_body();
    while let Some(data) = body.data().await {
        match data {
            Ok(data) => {
                let _ = body.flow_control().release_capacity(data.len());
            }
            Err(error) => return h2_failure(&error),
        }
    }
    match body.trailers().await {
        Ok(Some(trailers)) => {
            grpc_status(&trailers).unwrap_or_else(|| "trailers without grpc-status".into())
        }
        Ok(None) => "answer without grpc-status".into(),
        Err(error) => h2_failure(&error),
    }
}

fn grpc_status(headers: &http::HeaderMap) -> Option<String> {
    let code: i32 = headers.get("grpc-status")?.to_str().ok()?.parse().ok()?;
    Some(code_name(tonic::Code::from_i32(code)))
}

fn h2_failure(error: &h2::Error) -> String {
    match error.reason() {
        Some(reason) if error.is_reset() => format!("stream reset ({reason:?})"),
        Some(reason) if error.is_go_away() => format!("connection closed (GOAWAY {reason:?})"),
        _ if error.is_io() => "connection closed (I/O)".into(),
        _ => format!("h2: {error}"),
    }
}

fn code_name(code: tonic::Code) -> String {
    format!("{code:?}")
}

fn short_error(error: &anyhow::Error) -> String {
    let root = error.root_cause().to_string();
    format!("{error}: {}", root.chars().take(60).collect::<String>())
}

// --- Results -----------------------------------------------------------------------

/// Counts of outcomes by name.
#[derive(Default)]
struct Tally(BTreeMap<String, usize>);

impl Tally {
    fn add(&mut self, outcome: String) {
        *self.0.entry(outcome).or_default() += 1;
    }

    /// `prefix` and the tally, or nothing when empty.
    fn prefixed(&self, prefix: &str) -> String {
        if self.0.is_empty() {
            String::new()
        } else {
            format!("{prefix}{self}")
        }
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return write!(f, "none");
        }
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(outcome, count)| format!("{count} {outcome}"))
            .collect();
        write!(f, "{}", parts.join(", "))
    }
}

struct Row {
    attack: String,
    watched: Watched,
    bystander: Served,
    summary: String,
    node_alive: String,
}

impl Row {
    /// Stops `node` (after noting whether it was still running).
    async fn new(
        attack: &str,
        watched: Watched,
        bystander: Served,
        summary: String,
        mut node: TestNode,
    ) -> Row {
        let node_alive = node.alive();
        node.stop().await;
        Row {
            attack: attack.into(),
            watched,
            bystander,
            summary,
            node_alive,
        }
    }

    fn failed(attack: &str, why: String) -> Row {
        Row {
            attack: attack.into(),
            watched: Watched::default(),
            bystander: Served::default(),
            summary: format!("DID NOT RUN: {why}"),
            node_alive: "?".into(),
        }
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = &self.watched;
        let b = &self.bystander;
        writeln!(
            f,
            "node RSS {:.0} MiB before, peak {:.0} MiB sampled ({} samples; {:.0} MiB of it transparent huge pages), {:.0} MiB at the end, VmHWM {:.0} MiB; at most {} open files; node alive: {}",
            mib(w.rss_before_kib),
            mib(w.rss_max_kib),
            w.samples,
            mib(w.huge_at_peak_kib),
            mib(w.rss_end_kib),
            mib(w.hwm_kib),
            w.fds_max,
            self.node_alive
        )?;
        writeln!(
            f,
            "bystander: {} calls ok, {} failed{}; latency median {} ms, max {} ms",
            b.ok,
            b.failed,
            b.failures.prefixed(" ("),
            b.latency_ms(0.5)
                .map_or("-".into(), |ms| format!("{ms:.1}")),
            b.latency_ms(1.0)
                .map_or("-".into(), |ms| format!("{ms:.1}")),
        )?;
        write!(f, "attacker: {}", self.summary)
    }
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{:<31} {:>9} {:>9} {:>6} {:>13} {:>15} {:>6}  attacker outcome",
        "attack", "peak RSS", "VmHWM", "files", "bystander", "bystander ms", "alive"
    );
    println!(
        "{:<31} {:>9} {:>9} {:>6} {:>13} {:>15} {:>6}",
        "", "MiB", "MiB", "max", "ok/failed", "median/max", ""
    );
    for row in rows {
        let b = &row.bystander;
        let latency = match (b.latency_ms(0.5), b.latency_ms(1.0)) {
            (Some(median), Some(max)) => format!("{median:.1}/{max:.1}"),
            _ => "-".into(),
        };
        println!(
            "{:<31} {:>9.0} {:>9.0} {:>6} {:>13} {:>15} {:>6}  {}",
            row.attack,
            mib(row.watched.rss_max_kib),
            mib(row.watched.hwm_kib),
            row.watched.fds_max,
            format!("{}/{}", b.ok, b.failed),
            latency,
            row.node_alive,
            row.summary
        );
    }
    println!(
        "peak RSS: max of VmRSS sampled every 100 ms during the attack; VmHWM: peak since the node started (setup included); files: max entries in /proc/PID/fd"
    );
}
