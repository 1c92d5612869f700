//! Configuration: flags, then environment variables, then an optional TOML
//! file, then defaults. Raw arguments are parsed first, then validated into a
//! [`Config`] that the rest of the node receives.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Parser;
use serde::Deserialize;

use crate::limits::Limits;
use crate::peer_identity::Role;
use crate::tls::TlsFiles;

/// Where the node listens unless told otherwise (loopback: safe by default).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";
/// Where a `--dev` node with the default `--listen` serves its console
/// unless `--http` says otherwise.
pub const DEFAULT_DEV_HTTP: &str = "127.0.0.1:8080";
/// Where the node keeps its data unless told otherwise.
pub const DEFAULT_DATA_DIR: &str = "./tansiq-data";

/// What `tansiq-node backup|restore|dump` does instead of serving.
#[derive(clap::Subcommand, Debug)]
pub enum Maintenance {
    /// Writes a consistent copy of a node's ledger, with a manifest (chain,
    /// position, head, membership, a hash of every file), into a new
    /// folder. The node must be stopped (its store is locked while it
    /// runs).
    Backup {
        /// The node's data directory.
        #[arg(long, env = "TANSIQ_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// A new (or empty) folder for the backup.
        #[arg(long)]
        out: PathBuf,
    },
    /// Restores a backup into an empty data directory: refuses a damaged
    /// backup (naming the file) or one of another chain (naming both), and
    /// replays every signed event of the restored log before it says so.
    Restore {
        /// The backup's folder.
        #[arg(long)]
        from: PathBuf,
        /// The data directory to restore into (it must hold no store).
        #[arg(long, default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// The node's genesis: a backup of another chain is refused.
        /// Without it, the backup's own genesis.json is what the node gets.
        #[arg(long)]
        genesis: Option<PathBuf>,
    },
    /// Prints one column family of a data directory's store as JSON lines,
    /// records (keys, orgs, municipalities, projects, project_versions,
    /// needs, policies, reviews) as their fields whatever their stored
    /// form, any other pair as hex. Reads only; works while the node runs
    /// (it shows what the node had written when it opened).
    Dump {
        /// The column family: meta, log, events, keys, key_sequence, orgs,
        /// municipalities, projects, evidence, project_versions,
        /// project_events, coverage, needs, policies, reviews, tree,
        /// raft_log, raft_meta or outbox.
        family: String,
        /// The node's data directory.
        #[arg(long, env = "TANSIQ_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
}

/// tansiq-node: a Tansiq ledger node serving gRPC.
#[derive(Parser, Debug, Default)]
#[command(name = "tansiq-node", version, about)]
pub struct Args {
    /// Instead of serving: back up, restore or dump a data directory.
    #[command(subcommand)]
    pub maintenance: Option<Maintenance>,
    /// Start a single development node; creates a dev genesis and a ministry key
    /// in the data directory on first start.
    #[arg(long)]
    pub dev: bool,
    /// With --dev: load the demo scenario (Ghadames, Al-Muwaqqar, Aourir,
    /// Deir ez-Zor; illustrative figures) into a new ledger.
    #[arg(long, requires = "dev")]
    pub demo: bool,
    /// Run as a member of a replicated cluster with this node id (1, 2, ...);
    /// form the cluster with `tansiq cluster init`.
    #[arg(long, env = "TANSIQ_NODE_ID")]
    pub node_id: Option<u64>,
    /// Reach a peer at another address than the one in the cluster's
    /// membership (NAT, VPN, a proxy): ID=URL, repeatable.
    #[arg(long = "peer", value_name = "ID=URL")]
    pub peers: Vec<String>,
    /// Cluster: build a snapshot every N applied entries and purge the Raft
    /// log behind it (a node further behind catches up from the snapshot).
    #[arg(long, value_name = "N")]
    pub snapshot_every: Option<u64>,
    /// Cluster: send snapshots in chunks of at most N bytes (default 3 MiB);
    /// on a poor link a cut costs at most one chunk.
    #[arg(long, value_name = "N")]
    pub snapshot_chunk_bytes: Option<u64>,
    /// TLS: this node's certificate (PEM). With --tls-key and --tls-ca.
    #[arg(long, env = "TANSIQ_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// TLS: this node's private key (PEM).
    #[arg(long, env = "TANSIQ_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// TLS: the CA that signs the cluster's node certificates (PEM); peers
    /// and administrators must present a certificate it signed.
    #[arg(long, env = "TANSIQ_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// Development: get this node's certificate from the dev CA in DIR
    /// (another dev node's DATA_DIR/tls), so that dev nodes trust each other.
    #[arg(long, value_name = "DIR")]
    pub dev_ca: Option<PathBuf>,
    /// Development: the role the node's dev certificate names, voter (a
    /// ministry node, the default) or learner (a donor site's node, which
    /// peers never accept as a leader or candidate).
    #[arg(long, value_name = "ROLE")]
    pub dev_role: Option<String>,
    /// Serve without TLS. Only on a loopback --listen address (local tests).
    #[arg(long)]
    pub plaintext: bool,
    /// Connections the node keeps open at most (default 1024); one address
    /// may hold at most an eighth of them.
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Data directory (RocksDB, genesis, dev keys).
    #[arg(long, env = "TANSIQ_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to serve gRPC on.
    #[arg(long, env = "TANSIQ_LISTEN")]
    pub listen: Option<String>,
    /// Serve the read-only analyst console (HTML) on this address, a
    /// loopback one for now. --dev with the default --listen serves it on
    /// 127.0.0.1:8080 unless told otherwise.
    #[arg(long, env = "TANSIQ_HTTP", value_name = "ADDR")]
    pub http: Option<String>,
    /// The console's map: administrative boundaries (GeoJSON, a P-code
    /// property per feature, as OCHA's COD-AB files), read at start. --demo
    /// without it draws the demo's illustrative shapes.
    #[arg(long, env = "TANSIQ_BOUNDARIES", value_name = "FILE")]
    pub boundaries: Option<PathBuf>,
    /// The console opens only for these access tokens: a file of their
    /// blake3 hashes, one per line (`tansiq console-token --hash-file
    /// FILE` makes a token and appends its hash).
    #[arg(long, env = "TANSIQ_HTTP_TOKEN_FILE", value_name = "FILE")]
    pub http_token_file: Option<PathBuf>,
    /// The console asks every reader for a client certificate of the
    /// node's CA (a TLS console only).
    #[arg(long)]
    pub http_client_certs: bool,
    /// Genesis file (JSON) for a new chain; not needed with --dev or once the data directory exists.
    #[arg(long, env = "TANSIQ_GENESIS")]
    pub genesis: Option<PathBuf>,
    /// Log format: human or json.
    #[arg(long, env = "TANSIQ_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Optional TOML file with the same settings, but the development ones (examples/node.toml lists them).
    #[arg(long, env = "TANSIQ_CONFIG")]
    pub config: Option<PathBuf>,
    /// Upgrade a data directory of an older format in place without first
    /// keeping a copy of it in DATA_DIR/backups (when a backup was taken).
    #[arg(long)]
    pub no_upgrade_backup: bool,
    /// The folder an administrator's certificate may ask backups into
    /// (`tansiq backup --out DIR/NAME`); without it, only a ministry-signed
    /// request asks for a backup. An absolute path.
    #[arg(long, env = "TANSIQ_BACKUP_DIR", value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// /readyz answers 503 while this node has applied more than N entries
    /// fewer than its cluster's leader has committed (default 1000).
    #[arg(long, value_name = "N")]
    pub ready_lag_max: Option<u64>,
    /// Check the configuration (flags, environment, --config file, and
    /// that the genesis file reads), print what the node would run with,
    /// and exit: 0 when valid, 2 with the reason otherwise.
    #[arg(long)]
    pub check_config: bool,
}

/// Settings read from a TOML configuration file: every flag's setting
/// but the development ones (--dev-ca, --dev-role, --plaintext, --demo) and
/// the maintenance tasks (examples/node.toml lists them with their defaults).
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    dev: Option<bool>,
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    genesis: Option<PathBuf>,
    log_format: Option<String>,
    node_id: Option<u64>,
    peers: Option<Vec<String>>,
    snapshot_every: Option<u64>,
    snapshot_chunk_bytes: Option<u64>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_ca: Option<PathBuf>,
    max_connections: Option<usize>,
    http: Option<String>,
    http_token_file: Option<PathBuf>,
    http_client_certs: Option<bool>,
    boundaries: Option<PathBuf>,
    upgrade_backup: Option<bool>,
    ready_lag_max: Option<u64>,
    backup_dir: Option<PathBuf>,
}

impl FileSettings {
    /// Fills what the flags and environment (`args`) leave unset.
    fn under(self, args: &mut Args) {
        fn fill<T>(flag: &mut Option<T>, file: Option<T>) {
            if flag.is_none() {
                *flag = file;
            }
        }
        args.dev |= self.dev.unwrap_or(false);
        fill(&mut args.data_dir, self.data_dir);
        fill(&mut args.listen, self.listen);
        fill(&mut args.genesis, self.genesis);
        fill(&mut args.log_format, self.log_format);
        fill(&mut args.node_id, self.node_id);
        if args.peers.is_empty() {
            args.peers = self.peers.unwrap_or_default();
        }
        fill(&mut args.snapshot_every, self.snapshot_every);
        fill(&mut args.snapshot_chunk_bytes, self.snapshot_chunk_bytes);
        fill(&mut args.tls_cert, self.tls_cert);
        fill(&mut args.tls_key, self.tls_key);
        fill(&mut args.tls_ca, self.tls_ca);
        fill(&mut args.max_connections, self.max_connections);
        fill(&mut args.http, self.http);
        fill(&mut args.http_token_file, self.http_token_file);
        args.http_client_certs |= self.http_client_certs.unwrap_or(false);
        fill(&mut args.boundaries, self.boundaries);
        args.no_upgrade_backup |= self.upgrade_backup == Some(false);
        fill(&mut args.ready_lag_max, self.ready_lag_max);
        fill(&mut args.backup_dir, self.backup_dir);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

/// How the node talks: always TLS unless plaintext was asked for on loopback.
#[derive(Clone, Debug)]
pub enum Transport {
    Plaintext,
    Tls(TlsFiles),
    /// Development TLS: a local CA (this node's, or the one in the directory
    /// given) and a node certificate, created on first start.
    DevTls {
        ca_dir: Option<PathBuf>,
        role: Role,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Create a development chain on first start.
    Dev,
    /// Use the genesis file given, or the one the data directory holds.
    Configured,
}

/// The validated configuration of a node.
#[derive(Debug)]
pub struct Config {
    pub mode: Mode,
    pub demo: bool,
    pub node_id: Option<u64>,
    /// Peer addresses that override the membership's (node id → URL).
    pub peers: std::collections::BTreeMap<u64, String>,
    pub snapshot_every: Option<u64>,
    pub snapshot_chunk_bytes: Option<u64>,
    pub transport: Transport,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// Where the analyst console is served (None: it is not).
    pub http: Option<SocketAddr>,
    /// The console map's boundaries file (GeoJSON), read at start.
    pub boundaries: Option<PathBuf>,
    /// Who may read the console, and whether it is served over TLS.
    pub console_access: ConsoleAccess,
    pub genesis: Option<PathBuf>,
    pub log_format: LogFormat,
    pub limits: Limits,
    /// Whether a store of an older format is copied before its upgrade.
    pub upgrade_copy: tansiq_ledger::append::UpgradeCopy,
    /// /readyz: the most entries this node may lag its leader's commit index.
    pub ready_lag_max: u64,
    /// Where an administrator's certificate may ask for backups.
    pub backup_dir: Option<PathBuf>,
}

/// /readyz's default lag: entries a member may be behind its leader's
/// commit index and still take clients.
pub const READY_LAG_MAX_DEFAULT: u64 = 1_000;

impl Config {
    /// Merges flags and environment (`args`) over the file they name and the defaults.
    pub fn from_args(args: Args) -> anyhow::Result<Config> {
        let mut args = args;
        if let Some(path) = &args.config {
            read_file(path)?.under(&mut args);
        }
        let dev = args.dev;
        let listen_text = args.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen_text.parse().with_context(|| {
            format!("--listen {listen_text:?} is not an address like 127.0.0.1:50051")
        })?;
        let http = http_address(args.http.as_deref(), dev, &listen_text)?;
        let boundaries = args.boundaries;
        let console_access = ConsoleAccess {
            tls: http.is_some_and(|address| !address.ip().is_loopback()),
            token_file: args.http_token_file,
            client_certificates: args.http_client_certs,
        };
        if let (Some(path), None) = (&boundaries, http) {
            bail!(
                "--boundaries {} draws the console's map, and this node serves no console: serve it with --http 127.0.0.1:PORT",
                path.display()
            );
        }
        let log_format = match args.log_format.as_deref() {
            None | Some("human") => LogFormat::Human,
            Some("json") => LogFormat::Json,
            Some(other) => bail!("--log-format {other:?}: use human or json"),
        };
        let genesis = args.genesis;
        if dev && genesis.is_some() {
            bail!("--dev creates its own genesis; do not pass --genesis with it");
        }
        let mut peers = std::collections::BTreeMap::new();
        for peer in &args.peers {
            let parsed = peer
                .split_once('=')
                .and_then(|(id, url)| Some((id.parse::<u64>().ok()?, url.to_owned())));
            let Some((id, url)) = parsed else {
                bail!("--peer {peer:?}: use ID=URL, e.g. --peer 2=http://10.0.0.2:50051");
            };
            peers.insert(id, url);
        }
        if args.node_id.is_none()
            && (!peers.is_empty()
                || args.snapshot_every.is_some()
                || args.snapshot_chunk_bytes.is_some())
        {
            bail!("--peer, --snapshot-every and --snapshot-chunk-bytes are for cluster members: add --node-id");
        }
        if args.demo && args.node_id.is_some() {
            bail!("--demo loads the demo through this node's own committer, outside the Raft log, and a cluster member's state must come from the log alone: load the demo on a single node (--dev --demo without --node-id), or submit the scenario's events to the cluster with `tansiq submit`");
        }
        let transport = match (args.tls_cert, args.tls_key, args.tls_ca) {
            _ if args.plaintext => {
                if !listen.ip().is_loopback() {
                    bail!("--plaintext is only for a loopback --listen address (127.0.0.1, ::1); on {listen} serve TLS with --tls-cert, --tls-key and --tls-ca");
                }
                Transport::Plaintext
            }
            (Some(cert), Some(key), Some(ca)) => Transport::Tls(TlsFiles { ca, cert, key }),
            (None, None, None) if dev || args.dev_ca.is_some() => Transport::DevTls {
                ca_dir: args.dev_ca,
                role: match args.dev_role.as_deref() {
                    None | Some("voter") => Role::Voter,
                    Some("learner") => Role::Learner,
                    Some(other) => bail!("--dev-role {other:?}: use voter or learner"),
                },
            },
            (None, None, None) => bail!(
                "the node serves TLS: give --tls-cert, --tls-key and --tls-ca (PEM files), or --dev / --dev-ca DIR for development certificates, or --plaintext on a loopback address"
            ),
            _ => bail!("TLS needs all three of --tls-cert, --tls-key and --tls-ca"),
        };
        if args.dev_role.is_some() && !matches!(transport, Transport::DevTls { .. }) {
            bail!("--dev-role names the role in a development certificate: use it with --dev or --dev-ca");
        }
        if args.snapshot_every == Some(0) {
            bail!("--snapshot-every must be at least 1");
        }
        if args.snapshot_chunk_bytes == Some(0) {
            bail!("--snapshot-chunk-bytes must be at least 1");
        }
        if args
            .snapshot_chunk_bytes
            .is_some_and(|bytes| bytes > tansiq_ledger::limits::SNAPSHOT_CHUNK_BYTES_MAX)
        {
            bail!(
                "--snapshot-chunk-bytes may be at most {} (64 MiB): peers refuse larger messages",
                tansiq_ledger::limits::SNAPSHOT_CHUNK_BYTES_MAX
            );
        }
        check_console_access(http, &console_access, &transport)?;
        let mut limits = Limits::default();
        if let Some(connections) = args.max_connections {
            if connections < 16 {
                bail!("--max-connections must be at least 16");
            }
            limits.connections_max = connections;
            limits.connections_per_ip_max = (connections / 8).max(8);
        }
        let upgrade_copy = if args.no_upgrade_backup {
            tansiq_ledger::append::UpgradeCopy::Skip
        } else {
            tansiq_ledger::append::UpgradeCopy::Keep
        };
        let ready_lag_max = args.ready_lag_max.unwrap_or(READY_LAG_MAX_DEFAULT);
        if let Some(dir) = &args.backup_dir {
            if !dir.is_absolute() {
                bail!("--backup-dir {} must be an absolute path", dir.display());
            }
        }
        Ok(Config {
            limits,
            upgrade_copy,
            ready_lag_max,
            backup_dir: args.backup_dir,
            mode: if dev { Mode::Dev } else { Mode::Configured },
            demo: args.demo,
            node_id: args.node_id,
            peers,
            snapshot_every: args.snapshot_every,
            snapshot_chunk_bytes: args.snapshot_chunk_bytes,
            transport,
            data_dir: args
                .data_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            listen,
            http,
            boundaries,
            console_access,
            genesis,
            log_format,
        })
    }
}

/// Who may read the console, and over what (see `console::access`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsoleAccess {
    /// Serve TLS with the node's certificate (the console is beyond loopback).
    pub tls: bool,
    /// The file of access-token hashes, if tokens are required.
    pub token_file: Option<PathBuf>,
    /// Require a client certificate of the node's CA.
    pub client_certificates: bool,
}

/// The console's address: `--http`, else for a `--dev` node on the default
/// `--listen` address, [`DEFAULT_DEV_HTTP`]. The default goes with the
/// other: tests and clusters start many dev nodes at once on other gRPC
/// addresses, and each would otherwise fight for port 8080.
fn http_address(flag: Option<&str>, dev: bool, listen: &str) -> anyhow::Result<Option<SocketAddr>> {
    let text = match flag {
        Some(text) => text,
        None if dev && listen == DEFAULT_LISTEN => DEFAULT_DEV_HTTP,
        None => return Ok(None),
    };
    let address: SocketAddr = text
        .parse()
        .with_context(|| format!("--http {text:?} is not an address like 127.0.0.1:8080"))?;
    Ok(Some(address))
}

/// Beyond loopback the console is served over TLS and behind an access
/// rule: coverage data in a conflict area can put people at risk.
fn check_console_access(
    http: Option<SocketAddr>,
    access: &ConsoleAccess,
    transport: &Transport,
) -> anyhow::Result<()> {
    let has_rule = access.token_file.is_some() || access.client_certificates;
    let Some(address) = http else {
        if has_rule {
            bail!("--http-token-file and --http-client-certs guard the console, and this node serves none: add --http ADDR");
        }
        return Ok(());
    };
    if access.tls {
        if matches!(transport, Transport::Plaintext) {
            bail!("--http {address}: a console beyond loopback is served over TLS with the node's certificate; drop --plaintext (a --dev node makes its own) or give --tls-cert, --tls-key and --tls-ca");
        }
        if !has_rule {
            bail!("--http {address}: a console beyond loopback needs an access rule, as coverage data can be sensitive: --http-token-file FILE (make a token with `tansiq console-token --hash-file FILE`) or --http-client-certs (readers present a certificate of the node's CA); or serve it on 127.0.0.1 and reach it through an SSH tunnel");
        }
    } else if access.client_certificates {
        bail!("--http-client-certs asks for certificates in the TLS handshake, and a console on loopback ({address}) is plain HTTP: use --http-token-file there, or serve it beyond loopback");
    }
    Ok(())
}

fn read_file(path: &Path) -> anyhow::Result<FileSettings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {} is not valid", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_work() {
        let config = Config::from_args(Args {
            dev: true,
            ..Args::default()
        })
        .expect("defaults are valid");
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(config.mode, Mode::Dev);
        assert_eq!(
            config.http.map(|address| address.to_string()).as_deref(),
            Some(DEFAULT_DEV_HTTP)
        );
    }

    /// The example file's settings, uncommented, reach the configuration;
    /// a flag wins over the file.
    #[test]
    fn the_file_takes_every_setting_and_flags_win() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("node.toml");
        let example = include_str!("../../examples/node.toml");
        // Uncomment every setting (all but `dev`) as the example writes it.
        let uncommented: String = example
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(setting) if setting.contains(" = ") && !setting.starts_with("dev ") => {
                    setting.to_owned()
                }
                _ => line.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&path, uncommented).expect("write");
        let config = Config::from_args(Args {
            config: Some(path.clone()),
            ..Args::default()
        })
        .expect("the example, every setting on, is valid");
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/tansiq"));
        assert_eq!(config.listen.to_string(), "0.0.0.0:50051");
        assert_eq!(config.node_id, Some(1));
        assert_eq!(
            config.peers.get(&2).map(String::as_str),
            Some("https://10.0.0.2:50051")
        );
        assert_eq!(config.snapshot_every, Some(20_000));
        assert_eq!(config.snapshot_chunk_bytes, Some(3_145_728));
        assert!(
            matches!(&config.transport, Transport::Tls(files) if files.ca == Path::new("/etc/tansiq/ca.pem"))
        );
        assert_eq!(
            config.http.map(|address| address.to_string()).as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(
            config.console_access.token_file,
            Some(PathBuf::from("/etc/tansiq/console-tokens"))
        );
        assert_eq!(
            config.boundaries,
            Some(PathBuf::from("/etc/tansiq/boundaries.geojson"))
        );
        assert_eq!(config.limits.connections_max, 1024);
        assert_eq!(config.ready_lag_max, 1000);
        assert_eq!(
            config.upgrade_copy,
            tansiq_ledger::append::UpgradeCopy::Keep
        );
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(
            config.backup_dir,
            Some(PathBuf::from("/var/backups/tansiq"))
        );
        let config = Config::from_args(Args {
            config: Some(path),
            node_id: Some(7),
            ready_lag_max: Some(5),
            no_upgrade_backup: true,
            ..Args::default()
        })
        .expect("valid");
        assert_eq!(config.node_id, Some(7));
        assert_eq!(config.ready_lag_max, 5);
        assert_eq!(
            config.upgrade_copy,
            tansiq_ledger::append::UpgradeCopy::Skip
        );
    }

    #[test]
    fn the_console_is_served_where_http_says_and_beyond_loopback_only_with_tls_and_a_rule() {
        let config = Config::from_args(Args {
            dev: true,
            http: Some("127.0.0.1:0".into()),
            ..Args::default()
        })
        .expect("--http overrides the dev default");
        assert_eq!(config.http.map(|address| address.port()), Some(0));
        // A dev node told to listen elsewhere serves no console unless asked.
        let config = Config::from_args(Args {
            dev: true,
            listen: Some("127.0.0.1:0".into()),
            ..Args::default()
        })
        .expect("valid");
        assert_eq!(config.http, None);
        for address in ["0.0.0.0:8080", "192.0.2.1:8080", "[::]:8080"] {
            let error = Config::from_args(Args {
                dev: true,
                http: Some(address.into()),
                ..Args::default()
            })
            .expect_err("beyond loopback without a rule");
            assert!(
                error.to_string().contains("needs an access rule"),
                "{error}"
            );
            let error = Config::from_args(Args {
                dev: true,
                plaintext: true,
                http: Some(address.into()),
                http_client_certs: true,
                ..Args::default()
            })
            .expect_err("beyond loopback without TLS");
            assert!(error.to_string().contains("served over TLS"), "{error}");
            let config = Config::from_args(Args {
                dev: true,
                http: Some(address.into()),
                http_token_file: Some("tokens".into()),
                ..Args::default()
            })
            .expect("TLS (the dev node's) and tokens");
            assert!(config.console_access.tls);
        }
        // On loopback: plain HTTP, tokens if asked, no client certificates.
        let config = Config::from_args(Args {
            dev: true,
            http: Some("127.0.0.1:0".into()),
            http_token_file: Some("tokens".into()),
            ..Args::default()
        })
        .expect("tokens on loopback");
        assert!(!config.console_access.tls);
        let error = Config::from_args(Args {
            dev: true,
            http: Some("127.0.0.1:0".into()),
            http_client_certs: true,
            ..Args::default()
        })
        .expect_err("no handshake to ask in");
        assert!(error.to_string().contains("plain HTTP"), "{error}");
        let error = Config::from_args(Args {
            dev: true,
            http: Some("localhost".into()),
            ..Args::default()
        })
        .expect_err("not an address");
        assert!(error.to_string().contains("--http"), "{error}");
    }

    #[test]
    fn boundaries_come_from_the_flag_or_the_file_and_need_the_console() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("node.toml");
        std::fs::write(&path, "boundaries = \"/from/file.geojson\"\n").expect("write");
        let config = Config::from_args(Args {
            dev: true,
            config: Some(path.clone()),
            ..Args::default()
        })
        .expect("valid");
        assert_eq!(config.boundaries, Some(PathBuf::from("/from/file.geojson")));
        let config = Config::from_args(Args {
            dev: true,
            config: Some(path),
            boundaries: Some("cod-ab.geojson".into()),
            ..Args::default()
        })
        .expect("valid");
        assert_eq!(config.boundaries, Some(PathBuf::from("cod-ab.geojson")));
        assert_eq!(
            Config::from_args(Args {
                dev: true,
                ..Args::default()
            })
            .expect("valid")
            .boundaries,
            None
        );
        let error = Config::from_args(Args {
            dev: true,
            listen: Some("127.0.0.1:0".into()),
            boundaries: Some("cod-ab.geojson".into()),
            ..Args::default()
        })
        .expect_err("no console to draw it");
        assert!(
            error
                .to_string()
                .contains("serves no console: serve it with --http"),
            "{error}"
        );
    }

    #[test]
    fn a_cluster_member_refuses_the_demo() {
        let error = Config::from_args(Args {
            dev: true,
            demo: true,
            node_id: Some(1),
            ..Args::default()
        })
        .expect_err("the demo would bypass the Raft log");
        assert!(
            error.to_string().contains("outside the Raft log"),
            "{error}"
        );
    }

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("node.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:6000\"\ndata_dir = \"/from/file\"\n",
        )
        .expect("write");
        let args = Args {
            config: Some(path),
            listen: Some("127.0.0.1:7000".into()),
            plaintext: true,
            ..Args::default()
        };
        let config = Config::from_args(args).expect("valid");
        assert_eq!(config.listen.port(), 7000);
        assert_eq!(config.data_dir, PathBuf::from("/from/file"));
    }

    #[test]
    fn bad_values_say_what_to_do() {
        let err = Config::from_args(Args {
            listen: Some("nowhere".into()),
            ..Args::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("127.0.0.1:50051"), "{err}");
        let err = Config::from_args(Args {
            log_format: Some("xml".into()),
            ..Args::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("human or json"), "{err}");
    }

    #[test]
    fn plaintext_only_on_loopback_and_tls_otherwise() {
        let err = Config::from_args(Args {
            listen: Some("0.0.0.0:50051".into()),
            plaintext: true,
            ..Args::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
        let err = Config::from_args(Args::default()).unwrap_err();
        assert!(err.to_string().contains("--tls-cert"), "{err}");
        let config = Config::from_args(Args {
            listen: Some("[::1]:50051".into()),
            plaintext: true,
            ..Args::default()
        })
        .expect("plaintext on loopback");
        assert!(matches!(config.transport, Transport::Plaintext));
    }
}
