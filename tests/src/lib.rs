//! Helpers for end-to-end tests: start real `tansiq-node` processes on free
//! loopback ports, run the real `tansiq` CLI, and sign events as clients do.

pub mod anchor;
pub mod cluster;
// A small disk to fill: the ledger's own tests use it too.
pub use tansiq_ledger::testing::disk;
pub mod ports;
pub mod probes;
pub mod proc;
pub mod scale;

// The ledger's builders for tests, under the paths the tests and the
// benchmarks have always used.
pub use tansiq_ledger::testing::{commit_group, events, open_test_ledger};

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tansiq_ledger::author::{Author, KeyFile};
use tansiq_ledger::ids::EventId;
use tansiq_ledger::signing::ChainId;
use tansiq_proto::v1 as pb;
use tansiq_proto::v1::ledger_client::LedgerClient;
use tonic::transport::Channel;

/// The directory holding the workspace's binaries (built by `scripts/test.sh`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("executable path");
    // target/<profile>/deps/<test> or target/<profile>/<bin> → target/<profile>
    let dir = exe.parent().expect("target/<profile>");
    if dir.file_name().is_some_and(|name| name == "deps") {
        dir.parent().expect("target/<profile>").to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

/// The build the running binaries come from, as every benchmark prints it:
/// the profile this binary was compiled in (the node is beside it), the
/// workspace crates' optimisation level and whether debug assertions are
/// on; and where the binary runs from when it was copied out of the
/// target directory (to compare two builds side by side).
pub fn build_profile() -> String {
    let dir = env!("TANSIQ_BUILD_PROFILE_DIR");
    let profile = match dir {
        "debug" => "dev",
        other => other,
    };
    let assertions = if cfg!(debug_assertions) { "on" } else { "off" };
    let running = bin_dir();
    let copied = if running.file_name().is_some_and(|name| name == dir) {
        String::new()
    } else {
        format!(", run from {}", running.display())
    };
    format!(
        "{profile} (target/{dir}, Cargo.toml's [profile.{profile}]: workspace crates at opt-level {}, debug assertions {assertions}{copied})",
        env!("TANSIQ_BUILD_OPT_LEVEL")
    )
}

pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/test.sh (it builds the binaries first)",
        path.display()
    );
    path
}

/// A running `tansiq-node --dev`, killed when dropped.
pub struct Node {
    pub data_dir: PathBuf,
    pub url: String,
    /// The analyst console's URL (`http://127.0.0.1:PORT/`), when the node
    /// was started with `--http`.
    pub console_url: Option<String>,
    /// The CA to trust when the node serves TLS (None: plaintext).
    pub ca: Option<PathBuf>,
    child: Child,
}

impl Node {
    /// Starts a dev node with its data in `data_dir`, on a free loopback port.
    pub fn start(data_dir: &Path) -> Node {
        Node::start_with(data_dir, &[])
    }

    /// Starts a dev node with extra flags (e.g. `--demo`).
    pub fn start_with(data_dir: &Path, extra: &[&str]) -> Node {
        let mut args = vec!["--dev", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        Node::start_args(data_dir, &args)
    }

    /// Starts `tansiq-node --data-dir DATA_DIR ARGS... --plaintext` (tests
    /// talk to nodes on loopback without TLS, as the node allows there).
    pub fn start_args(data_dir: &Path, args: &[&str]) -> Node {
        Node::start_plaintext(data_dir, args, None)
    }

    /// [`Node::start_args`], with the node's own default log filter (no
    /// RUST_LOG) and its log appended to `log`, for tests of what it logs.
    pub fn start_args_logged(data_dir: &Path, args: &[&str], log: &Path) -> Node {
        Node::start_plaintext(data_dir, args, Some(log))
    }

    fn start_plaintext(data_dir: &Path, args: &[&str], log: Option<&Path>) -> Node {
        let mut args = args.to_vec();
        args.push("--plaintext");
        Node::spawn(data_dir, &args, None, log)
    }

    /// Starts a node that serves TLS (e.g. with --dev, or --dev-ca DIR);
    /// clients trust `ca`.
    pub fn start_tls(data_dir: &Path, args: &[&str], ca: &Path) -> Node {
        Node::spawn(data_dir, args, Some(ca.to_path_buf()), None)
    }

    /// Without `log`: warnings and errors to the test's stderr.
    fn spawn(data_dir: &Path, args: &[&str], ca: Option<PathBuf>, log: Option<&Path>) -> Node {
        let mut command = Command::new(binary("tansiq-node"));
        command
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .stdout(Stdio::piped());
        match log {
            None => command.env("RUST_LOG", "warn").stderr(Stdio::inherit()),
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .expect("open the node's log file");
                command.env_remove("RUST_LOG").stderr(file)
            }
        };
        let mut child = command.spawn().expect("start tansiq-node");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        let mut stdout = BufReader::new(stdout);
        stdout
            .read_line(&mut line)
            .expect("read the node's first line");
        let address = line
            .trim()
            .strip_prefix("tansiq-node listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from tansiq-node: {line:?}"))
            .to_owned();
        // With --http, the next line names the console's address.
        let console_url = args
            .iter()
            .any(|arg| *arg == "--http" || arg.starts_with("--http="))
            .then(|| {
                let mut line = String::new();
                stdout
                    .read_line(&mut line)
                    .expect("read the node's console line");
                line.trim()
                    .strip_prefix("tansiq-node console on ")
                    .unwrap_or_else(|| panic!("unexpected second line from tansiq-node: {line:?}"))
                    .to_owned()
            });
        let scheme = if ca.is_some() { "https" } else { "http" };
        Node {
            data_dir: data_dir.to_path_buf(),
            url: format!("{scheme}://{address}"),
            console_url,
            ca,
            child,
        }
    }

    /// The dev administrator's certificate and key, beside the dev CA the
    /// node's clients trust (None: plaintext, or a CA without one).
    pub fn admin_credential(&self) -> Option<(PathBuf, PathBuf)> {
        let dir = self.ca.as_ref()?.parent()?;
        let (cert, key) = (dir.join("admin.pem"), dir.join("admin.key"));
        (cert.exists() && key.exists()).then_some((cert, key))
    }

    pub fn ministry_key(&self) -> PathBuf {
        self.data_dir.join("ministry.key")
    }

    pub async fn client(&self) -> LedgerClient<Channel> {
        LedgerClient::new(self.channel().await)
    }

    /// A channel to the node (TLS trusting its CA when it serves TLS).
    pub async fn channel(&self) -> Channel {
        let mut endpoint =
            tonic::transport::Endpoint::from_shared(self.url.clone()).expect("node URL");
        if let Some(ca) = &self.ca {
            let ca = std::fs::read(ca).expect("read the CA");
            endpoint = endpoint
                .tls_config(
                    tonic::transport::ClientTlsConfig::new()
                        .ca_certificate(tonic::transport::Certificate::from_pem(ca)),
                )
                .expect("TLS config");
        }
        endpoint.connect().await.expect("connect to the node")
    }

    /// The node's process id (kept across a restart in place).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How the node's process ended, or None while it runs.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("wait")
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill_9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
    }

    /// SIGTERM, then waits for a clean exit; returns whether it exited with success.
    pub fn terminate(mut self) -> bool {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("send SIGTERM");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("tansiq-node did not stop within 60 s of SIGTERM");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the `tansiq` CLI against `node` as the cluster's administrator
/// (its dev administrator certificate, when it serves TLS).
pub fn cli_as_admin(node: &Node, args: &[&str]) -> Output {
    let mut command = cli_command(node, &[]);
    if let Some((cert, key)) = node.admin_credential() {
        command
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key);
    }
    command.args(args).output().expect("run tansiq")
}

/// Runs the `tansiq` CLI against `node`.
pub fn cli(node: &Node, args: &[&str]) -> Output {
    cli_command(node, args).output().expect("run tansiq")
}

/// The `tansiq` CLI against `node`, to run with other standard streams.
pub fn cli_command(node: &Node, args: &[&str]) -> Command {
    let mut command = Command::new(binary("tansiq"));
    command.arg("--node").arg(&node.url);
    if let Some(ca) = &node.ca {
        command.arg("--ca").arg(ca);
    }
    command.args(args);
    command
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// An author for a key file, positioned at the key's head on the node.
pub async fn author(client: &mut LedgerClient<Channel>, key_file: &Path) -> Author {
    try_author(client, key_file)
        .await
        .expect("an author at the key's head on the node")
}

/// [`author`], or why not (for load generators that must keep going while
/// a node under attack does not answer).
pub async fn try_author(
    client: &mut LedgerClient<Channel>,
    key_file: &Path,
) -> anyhow::Result<Author> {
    let (org, key) = KeyFile::read(key_file)?;
    let head = client.get_head(pb::GetHeadRequest {}).await?.into_inner();
    let key_head = client
        .get_key_head(pb::GetKeyHeadRequest {
            public_key: key.public().0.to_vec(),
        })
        .await?
        .into_inner();
    let last = (!key_head.last_event_id.is_empty())
        .then(|| EventId::from_slice(&key_head.last_event_id))
        .transpose()?;
    Ok(Author::new(
        ChainId::parse(&head.chain_id)?,
        org,
        key,
        key_head.sequence,
        last,
    ))
}

pub async fn head(client: &mut LedgerClient<Channel>) -> pb::LedgerHead {
    client
        .get_head(pb::GetHeadRequest {})
        .await
        .expect("head")
        .into_inner()
}

/// Acknowledged receipts: event id → (log position, head hash).
pub type Acknowledged = HashMap<Vec<u8>, (u64, Vec<u8>)>;

/// The highest acknowledged log position.
pub fn highest_position(acknowledged: &Acknowledged) -> u64 {
    acknowledged
        .values()
        .map(|(position, _)| *position)
        .max()
        .expect("something was acknowledged")
}

/// Every acknowledged event is on `node` at its acknowledged position and head.
pub async fn assert_acknowledged_on(node: &Node, acknowledged: &Acknowledged) {
    let mut client = node.client().await;
    for (id, (position, head_hash)) in acknowledged {
        let entry = client
            .get_event(pb::GetEventRequest {
                event_id: id.clone(),
            })
            .await
            .unwrap_or_else(|status| {
                panic!("acknowledged event missing on {}: {status:?}", node.url)
            })
            .into_inner();
        assert_eq!(entry.position, *position, "moved on {}", node.url);
        assert_eq!(&entry.head, head_hash, "head changed on {}", node.url);
    }
}
