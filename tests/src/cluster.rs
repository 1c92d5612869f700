//! Helpers for tests of replicated clusters: real `tansiq-node` members, the
//! CLI's view of them, and a TCP proxy that can cut a link on demand (the
//! fault injector between nodes).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tansiq_ledger::author::{now_ms, Author};
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::ledger_client::LedgerClient;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::{cli, stdout, Node};

/// One member of a test cluster: where it keeps its data and listens, and
/// the running process (None while it is down).
pub struct Member {
    pub id: u64,
    pub dir: PathBuf,
    /// `host:port` it listens on (kept across restarts).
    pub listen: String,
    /// Extra flags it is started with (e.g. `--peer`, `--snapshot-every`).
    pub flags: Vec<String>,
    /// Where its log goes, at its default level (None: warnings to the
    /// test's stderr).
    pub log: Option<PathBuf>,
    pub node: Option<Node>,
}

impl Member {
    pub fn url(&self) -> String {
        format!("http://{}", self.listen)
    }

    /// Logs this member at the node's default level to `dir/node-ID.log`.
    pub fn log_into(&mut self, dir: &Path) {
        self.log = Some(dir.join(format!("node-{}.log", self.id)));
    }

    pub fn node(&self) -> &Node {
        self.node.as_ref().expect("member is running")
    }

    /// Starts (or restarts) the member's process. Member 1 creates the dev
    /// chain; the others join it with member 1's genesis file.
    pub fn start(&mut self, genesis: &Path) {
        let id = self.id.to_string();
        let mut args: Vec<String> = vec!["--node-id".into(), id, "--listen".into()];
        args.push(self.listen.clone());
        if self.id == 1 {
            args.push("--dev".into());
        } else {
            args.extend(["--genesis".into(), genesis.display().to_string()]);
        }
        args.extend(self.flags.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let node = match &self.log {
            Some(log) => Node::start_args_logged(&self.dir, &args, log),
            None => Node::start_args(&self.dir, &args),
        };
        self.listen = node.url.trim_start_matches("http://").to_owned();
        self.node = Some(node);
    }
}

/// Members 1..=count, not started; each listens on a free loopback port
/// chosen now (so that proxies and `--peer` flags can name it in advance).
pub fn members(root: &Path, count: u64) -> Vec<Member> {
    (1..=count)
        .map(|id| {
            let port = crate::ports::unclaimed_port();
            Member {
                id,
                dir: root.join(format!("node-{id}")),
                listen: format!("127.0.0.1:{port}"),
                flags: Vec::new(),
                log: None,
                node: None,
            }
        })
        .collect()
}

/// Member 1's genesis file (the chain every member joins).
pub fn genesis_of(members: &[Member]) -> PathBuf {
    members[0].dir.join("genesis.json")
}

/// Starts every member (member 1 first), makes the first `voters` members
/// the voters and adds the rest as learners; returns the leader's id. Each
/// change is authorised by the ministry's dev key and so written to the
/// ledger: the ledger then holds 1 + (number of learners) events.
pub fn form(members: &mut [Member], voters: usize) -> u64 {
    let genesis = genesis_of(members);
    for member in members.iter_mut() {
        member.start(&genesis);
    }
    // Membership changes are signed by the ministry (member 1's dev key).
    let key = members[0].dir.join("ministry.key").display().to_string();
    let mut init = vec![
        "cluster".to_owned(),
        "--key".to_owned(),
        key.clone(),
        "init".to_owned(),
    ];
    for member in &members[..voters] {
        init.extend([
            "--member".to_owned(),
            format!("{}={}", member.id, member.url()),
        ]);
    }
    let init: Vec<&str> = init.iter().map(String::as_str).collect();
    let output = cli(members[0].node(), &init);
    assert!(output.status.success(), "{}", crate::stderr(&output));
    let leader = wait_for_leader(members[0].node());
    for member in &members[voters..] {
        let learner = format!("{}={}", member.id, member.url());
        let output = cli(
            members[0].node(),
            &["cluster", "--key", &key, "add-learner", &learner],
        );
        assert!(output.status.success(), "{}", crate::stderr(&output));
    }
    leader
}

/// `tansiq cluster status` as JSON (None when the node does not answer).
pub fn status(node: &Node) -> Option<Value> {
    let output = crate::cli_as_admin(node, &["--output", "json", "cluster", "status"]);
    output
        .status
        .success()
        .then(|| serde_json::from_str(&stdout(&output)).expect("status is JSON"))
}

/// A number field of a status (proto3 JSON writes uint64 as a string, and
/// leaves zero out).
pub fn number(status: &Value, field: &str) -> u64 {
    match &status[field] {
        Value::String(text) => text.parse().expect("a number"),
        Value::Number(n) => n.as_u64().expect("a u64"),
        _ => 0,
    }
}

/// Asks `probe` every 100 ms until it answers; fails after 60 s naming `what`.
pub fn poll<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `node` sees a leader that applied its first entry; returns its id.
pub fn wait_for_leader(node: &Node) -> u64 {
    poll("a leader", || {
        let status = status(node)?;
        (status["hasLeader"] == true && number(&status, "appliedIndex") >= 1)
            .then(|| number(&status, "leaderId"))
    })
}

/// Waits until every running member has the same ledger head; returns it.
pub async fn converged_head(members: &[Member]) -> pb::LedgerHead {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut heads = Vec::new();
        for member in members.iter().filter(|m| m.node.is_some()) {
            let mut client = member.node().client().await;
            heads.push(crate::head(&mut client).await);
        }
        if heads.windows(2).all(|pair| pair[0] == pair[1]) {
            return heads.swap_remove(0);
        }
        assert!(
            Instant::now() < deadline,
            "heads did not converge: {heads:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Submits `event`, trying the nodes in turn from `start`, until it is
/// committed; only "try again" errors are retried. An "accepted, pending"
/// receipt (a donor site's outbox) is followed on that node until the event
/// is on its log, as a donor system would before signing on elsewhere.
pub async fn submit_until_acknowledged(
    urls: &[String],
    start: usize,
    event: &pb::SignedEvent,
) -> pb::Receipt {
    let mut attempt = start;
    loop {
        let url = &urls[attempt % urls.len()];
        attempt += 1;
        let Ok(mut client) = LedgerClient::connect(url.clone()).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let mut request = tonic::Request::new(pb::SubmitRequest {
            event: Some(event.clone()),
        });
        request.set_timeout(Duration::from_secs(20));
        match client.submit(request).await {
            Ok(receipt) if receipt.get_ref().state == pb::ReceiptState::AcceptedPending as i32 => {
                return committed_receipt(&mut client, receipt.into_inner()).await;
            }
            Ok(receipt) => return receipt.into_inner(),
            Err(status) => {
                assert!(
                    matches!(
                        status.code(),
                        tonic::Code::Unavailable
                            | tonic::Code::DeadlineExceeded
                            | tonic::Code::Unknown
                            | tonic::Code::Cancelled
                    ),
                    "a valid event was refused: {status:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Waits until the event of a pending receipt is on the node's log; its receipt.
async fn committed_receipt(
    client: &mut LedgerClient<tonic::transport::Channel>,
    pending: pb::Receipt,
) -> pb::Receipt {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let found = client
            .get_event(pb::GetEventRequest {
                event_id: pending.event_id.clone(),
            })
            .await;
        match found {
            Ok(entry) => {
                let entry = entry.into_inner();
                return pb::Receipt {
                    event_id: entry.event_id,
                    position: entry.position,
                    head: entry.head,
                    state: pb::ReceiptState::Committed as i32,
                    committed_at_ms: entry.committed_at_ms,
                    ..pending
                };
            }
            Err(status) if status.code() == tonic::Code::NotFound => {}
            Err(status) => panic!("get_event: {status:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "a pending event was not committed within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The ministry registers a municipality and `count` donors through `urls`;
/// returns the donors (the setup is `count + 1` events).
pub async fn register_donors(members: &[Member], urls: &[String], count: usize) -> Vec<Author> {
    let mut client = members[0].node().client().await;
    let mut ministry = crate::author(&mut client, &members[0].node().ministry_key()).await;
    let mut setup = vec![
        ministry
            .sign(crate::events::municipality("LY0101", "", 2), now_ms())
            .0,
    ];
    let (registrations, donors) = tansiq_ledger::testing::registered_donors(
        &mut ministry,
        (0..count).map(|index| format!("donor-{index}")),
        now_ms(),
    );
    setup.extend(registrations);
    for event in &setup {
        submit_until_acknowledged(urls, 0, event).await;
    }
    donors
}

/// A TCP proxy to one target that can be cut (existing connections dropped,
/// new ones closed at once) and healed.
pub struct Proxy {
    pub address: SocketAddr,
    cut: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `target` (`host:port`).
    pub async fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let address = listener.local_addr().expect("proxy address");
        let target = target.to_owned();
        let cut = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let (cut, connections) = (Arc::clone(&cut), Arc::clone(&connections));
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if cut.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    let target = target.clone();
                    let task = tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(&target).await {
                            let _ = inbound.set_nodelay(true);
                            let _ = outbound.set_nodelay(true);
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    connections.lock().expect("proxy lock").push(task);
                }
            })
        };
        Proxy {
            address,
            cut,
            connections,
            accept,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Drops every connection through the proxy and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for task in self.connections.lock().expect("proxy lock").drain(..) {
            task.abort();
        }
    }

    pub fn heal(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        for task in self.connections.lock().expect("proxy lock").drain(..) {
            task.abort();
        }
    }
}

/// A proxy for every ordered pair of members: each member reaches each
/// other member through its own proxy (`--peer` flags), so a test can cut
/// any link in either direction. `links[(from, to)]`.
pub struct Links {
    pub proxies: std::collections::BTreeMap<(u64, u64), Proxy>,
}

impl Links {
    /// Starts the proxies and adds the `--peer` flags to the members.
    pub async fn between(members: &mut [Member]) -> Links {
        let mut proxies = std::collections::BTreeMap::new();
        let targets: Vec<(u64, String)> =
            members.iter().map(|m| (m.id, m.listen.clone())).collect();
        for member in members.iter_mut() {
            for (to, target) in &targets {
                if *to == member.id {
                    continue;
                }
                let proxy = Proxy::start(target).await;
                member
                    .flags
                    .extend(["--peer".to_owned(), format!("{to}={}", proxy.url())]);
                proxies.insert((member.id, *to), proxy);
            }
        }
        Links { proxies }
    }

    /// Cuts every link to and from `id`.
    pub fn isolate(&self, id: u64) {
        for ((from, to), proxy) in &self.proxies {
            if *from == id || *to == id {
                proxy.cut();
            }
        }
    }

    pub fn heal_all(&self) {
        for proxy in self.proxies.values() {
            proxy.heal();
        }
    }
}
