//! The command line, as parsed (raw); commands validate what they use.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "tansiq",
    version,
    about = "Client of a Tansiq coordination ledger node"
)]
pub struct Cli {
    /// Node to talk to: https://... (TLS) or http://... (a node started
    /// with --plaintext on loopback).
    #[arg(
        long,
        global = true,
        env = "TANSIQ_NODE",
        default_value = "https://127.0.0.1:50051"
    )]
    pub node: String,
    /// CA certificate (PEM) that signed the node's certificate; default
    /// tansiq-data/tls/ca.pem when it exists (a --dev node started here).
    #[arg(long, global = true, env = "TANSIQ_CA")]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM) signed by the cluster's CA: needed for
    /// `tansiq cluster` changes on a TLS cluster (mutual TLS).
    #[arg(long, global = true, env = "TANSIQ_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, global = true, env = "TANSIQ_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Make an access token for a node's console (`tansiq-node
    /// --http-token-file FILE`): prints the token once and appends its
    /// blake3 hash to FILE (created with mode 0600); the file never holds
    /// the token.
    ConsoleToken {
        /// The node's token file.
        #[arg(long)]
        hash_file: PathBuf,
    },
    /// Create a new ed25519 signing key file for an organisation.
    Keygen {
        /// Organisation id the key signs for (e.g. undp-libya).
        #[arg(long)]
        org: String,
        /// Where to write the key file (never overwritten; mode 0600).
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the genesis file of a new chain (for `tansiq-node --genesis`):
    /// its id is the name and a hash of the genesis, so that no two ledgers
    /// share one (docs/PROTOCOL.md, section 5).
    Genesis {
        /// The chain's name, 1-39 of a-z 0-9 '-' (e.g. ly-mlg).
        #[arg(long)]
        name: String,
        /// The ministry's organisation id on the ledger.
        #[arg(long, default_value = "ministry")]
        ministry: String,
        /// A ministry public key, hex (`tansiq keygen` prints it); repeat for several.
        #[arg(long = "ministry-key", required = true)]
        ministry_keys: Vec<String>,
        /// The ministry's name in Latin script.
        #[arg(long)]
        name_latin: String,
        /// The ministry's name in Arabic script.
        #[arg(long, default_value = "")]
        name_arabic: String,
        /// Where to write the genesis (JSON; never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign and submit events described in JSON (one body, or an array of bodies).
    Submit {
        /// JSON file ("-" for standard input); see docs/PROTOCOL.md for the form.
        file: PathBuf,
        /// Key file to sign with (default: $TANSIQ_KEY, else ./tansiq-data/ministry.key).
        #[arg(long, env = "TANSIQ_KEY")]
        key: Option<PathBuf>,
    },
    /// Show a committed event by id (hex).
    Get { event_id: String },
    /// Show the log head: position and head hash.
    Head,
    /// The log's signed checkpoint (its Merkle tree's size and root),
    /// verified against the log key; --save keeps it for `audit --since`
    /// and `prove --checkpoint`.
    Checkpoint {
        /// Write the checkpoint (the signed note) to this file; when the
        /// file holds one already, the new one must extend it (else
        /// nothing is written).
        #[arg(long)]
        save: Option<PathBuf>,
        #[command(flatten)]
        trust: LogTrust,
    },
    /// Ask the node for a consistent copy of its ledger, written while it
    /// keeps serving into OUT on the node's host, with a manifest (chain,
    /// position, head, a hash of every file); restore it with
    /// `tansiq-node restore --from OUT`. Asked as an administrator (a
    /// certificate of the cluster's CA naming tansiq://CHAIN/admin/NAME, given
    /// with --tls-cert and --tls-key: what a nightly backup job holds), or
    /// signed with a ministry key.
    Backup {
        /// A new or empty folder on the node's host (absolute path).
        #[arg(long)]
        out: PathBuf,
        /// The ministry's key file (not needed with an administrator's certificate).
        #[arg(long, env = "TANSIQ_KEY")]
        key: Option<PathBuf>,
    },
    /// Prove that an event is in the log: fetch its inclusion proof and
    /// check it against the current checkpoint, or a saved one.
    Prove {
        /// The event id (hex).
        event_id: String,
        /// A checkpoint file saved by `tansiq checkpoint --save`.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        #[command(flatten)]
        trust: LogTrust,
    },
    /// Check that the log only grew since a saved checkpoint: fails,
    /// naming both, if it was rewritten or truncated.
    Audit {
        /// A checkpoint file saved by `tansiq checkpoint --save`.
        #[arg(long)]
        since: PathBuf,
        #[command(flatten)]
        trust: LogTrust,
    },
    /// Show node counters and commit latency.
    Status,
    /// Print log entries from a position, then follow new ones.
    Tail {
        /// First position to print.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// Stop at the current head instead of following.
        #[arg(long)]
        once: bool,
    },
    /// Re-check every signature, every key's chain and the log head chain
    /// of a node; with --mirror, of a mirror, offline, against a signed
    /// checkpoint (every tile too).
    Verify {
        /// A directory made by `tansiq mirror` (no node is asked).
        #[arg(long)]
        mirror: Option<PathBuf>,
        /// With --mirror: the checkpoint to check against (default: the
        /// one the mirror holds).
        #[arg(long, requires = "mirror")]
        checkpoint: Option<PathBuf>,
        /// With --mirror: the log key (NAME+HEXID+BASE64) the checkpoint
        /// must be signed with.
        #[arg(long, env = "TANSIQ_LOG_KEY", requires = "mirror")]
        log_key: Option<String>,
    },
    /// Copy the log, as c2sp.org/tlog-tiles files, from a node's HTTP
    /// (console) address into DIR, checking every tile and the signed
    /// checkpoint as they arrive; run again to bring it up to date.
    Mirror {
        /// The mirror's directory.
        dir: PathBuf,
        /// The node's console address, e.g. http://127.0.0.1:8080.
        #[arg(long)]
        from: String,
        /// A console access token, if the node asks for one.
        #[arg(long, env = "TANSIQ_CONSOLE_TOKEN")]
        token: Option<String>,
        /// The log key the checkpoint must be signed with; without it, the
        /// key of the node named by --node, trusted on first use.
        #[arg(long, env = "TANSIQ_LOG_KEY")]
        log_key: Option<String>,
    },
    // who-supports, matrix, gaps, overlaps, check, history: here, so that
    // they keep this place in the syntax and in --help.
    #[command(flatten)]
    Coverage(CoverageCommand),
    /// What is on the ledger: municipalities, organisations, projects.
    List {
        #[command(subcommand)]
        what: ListCommand,
    },
    /// Replicated cluster administration (nodes started with --node-id).
    /// Init, add-learner, promote and remove are signed with a ministry key
    /// and written to the ledger before the node makes the change.
    Cluster {
        /// Ministry key file that authorises a membership change (default:
        /// $TANSIQ_KEY, else ./tansiq-data/ministry.key).
        #[arg(long, env = "TANSIQ_KEY", global = true)]
        key: Option<PathBuf>,
        #[command(subcommand)]
        action: ClusterAction,
    },
    /// Import a donor's projects from a published file, signed with the donor's key.
    Import {
        #[command(subcommand)]
        format: ImportFormat,
    },
    /// Coverage as CSV or HXL-tagged CSV (one row per project x municipality
    /// x sector), or the projects as an IATI 2.03 activity file (iati).
    Export {
        #[arg(value_enum)]
        format: ExportFormat,
        #[arg(default_value = "")]
        pcode: String,
        /// iati: only the projects this organisation reports (its org id).
        #[arg(long)]
        org: Option<String>,
        #[command(flatten)]
        as_of: AsOfArg,
    },
}

/// The coverage queries (`coverage.rs`), one request each to the node's
/// Coverage service.
#[derive(Subcommand, Debug)]
pub enum CoverageCommand {
    /// Which projects support a municipality, optionally in one sector.
    WhoSupports {
        /// The municipality's P-code.
        pcode: String,
        /// OECD DAC 5-digit sector or 3-digit category.
        #[arg(long)]
        sector: Option<String>,
        /// Include the municipalities under this P-code.
        #[arg(long)]
        children: bool,
        /// Only support the municipality confirmed (an attestation of the
        /// project's activity there by its organisation).
        #[arg(long)]
        confirmed: bool,
        #[command(flatten)]
        as_of: AsOfArg,
    },
    /// Municipalities x sector categories: projects, donors, budgets.
    Matrix {
        /// P-code to look under (default: everything).
        #[arg(default_value = "")]
        pcode: String,
        /// What counts as support: what donors report, or only what the
        /// municipality confirmed.
        #[arg(long, value_enum, default_value = "reported")]
        count: SupportCount,
        #[command(flatten)]
        as_of: AsOfArg,
    },
    /// Assessed needs with no support, most people in need first.
    Gaps {
        #[arg(default_value = "")]
        pcode: String,
        /// Only this OECD DAC 5-digit sector or 3-digit category.
        #[arg(long)]
        sector: Option<String>,
        /// Only municipalities at this administrative level (1 a region, ... 5).
        #[arg(long)]
        level: Option<u32>,
        /// At most this many, the largest first.
        #[arg(long)]
        limit: Option<u32>,
        /// What counts as support: with `confirmed`, support the
        /// municipality has not confirmed leaves the need a gap.
        #[arg(long, value_enum, default_value = "reported")]
        count: SupportCount,
        #[command(flatten)]
        as_of: AsOfArg,
    },
    /// How many open overlaps and uncovered needs (and people in them) a
    /// P-code has, without listing them.
    Totals {
        #[arg(default_value = "")]
        pcode: String,
        #[command(flatten)]
        as_of: AsOfArg,
    },
    /// Overlapping projects and the ministry's review of each pair.
    Overlaps {
        #[arg(default_value = "")]
        pcode: String,
        #[arg(long)]
        sector: Option<String>,
        /// Also show pairs reviewed as complementary.
        #[arg(long)]
        all: bool,
        /// At most this many (held pairs first).
        #[arg(long)]
        limit: Option<u32>,
        #[command(flatten)]
        as_of: AsOfArg,
    },
    /// Before committing funds: the support already there and the overlaps a
    /// proposed project would create. Writes nothing.
    Check {
        /// JSON file with a projectRegistered (or projectUpdated) body, as for submit.
        file: PathBuf,
        /// Key file of the organisation that would register it (its org id is used).
        #[arg(long, env = "TANSIQ_KEY")]
        key: Option<PathBuf>,
    },
    /// Every event about a project: author, kind, time.
    History { project_id: String },
    /// A project's results: each period's target, the actual value reported
    /// and the actual value the municipality confirmed; and every
    /// attestation of the project's claims.
    Results {
        project_id: String,
        #[command(flatten)]
        as_of: AsOfArg,
    },
    /// Claims of projects under a P-code that the party they name disputes
    /// or confirms only in part: what the ministry should look into.
    Disputes {
        #[arg(default_value = "")]
        pcode: String,
        #[command(flatten)]
        as_of: AsOfArg,
    },
}

/// What counts as a project's support in a place.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SupportCount {
    /// What donors report.
    Reported,
    /// Only what the municipality confirmed.
    Confirmed,
}

impl SupportCount {
    /// As the Coverage service takes it.
    pub fn wire(self) -> i32 {
        use tansiq_proto::v1 as pb;
        let count = match self {
            SupportCount::Reported => pb::SupportCount::Reported,
            SupportCount::Confirmed => pb::SupportCount::Confirmed,
        };
        count as i32
    }
}

#[derive(Subcommand, Debug)]
pub enum ImportFormat {
    /// An IATI activity file (iati-activities, 1.0x or 2.0x): each activity
    /// becomes the events that bring its project up to date (new project,
    /// changed details, transactions not yet recorded); re-importing the
    /// same file writes nothing. Prints a report; writes nothing if the file
    /// does not read whole.
    Iati {
        file: PathBuf,
        /// The reporting organisation's key file (default: $TANSIQ_KEY).
        #[arg(long, env = "TANSIQ_KEY")]
        key: Option<PathBuf>,
        /// Report what would be written, write nothing.
        #[arg(long)]
        dry_run: bool,
        /// CSV of vocabulary,code,pcode: gazetteer codes of
        /// location/administrative to P-codes (vocabulary may be empty: any).
        #[arg(long)]
        pcode_map: Option<PathBuf>,
    },
}

/// The listings (`list.rs`): every page, one after the other.
#[derive(Subcommand, Debug)]
pub enum ListCommand {
    /// Municipalities (under a P-code), with their children.
    Municipalities {
        /// P-code to list with what is under it (default: everything).
        #[arg(default_value = "")]
        pcode: String,
    },
    /// Organisations: role, IATI identifier, keys.
    Orgs {
        /// Only this role: ministry, donor or observer.
        #[arg(long)]
        role: Option<String>,
    },
    /// Projects (closed ones included), as of a date.
    Projects {
        /// Located in this P-code or under it (default: anywhere).
        #[arg(default_value = "")]
        pcode: String,
        /// OECD DAC 5-digit sector or 3-digit category.
        #[arg(long)]
        sector: Option<String>,
        /// Registered, funded or implemented by this organisation.
        #[arg(long)]
        org: Option<String>,
        /// IATI ActivityStatus code (1 pipeline ... 6 suspended).
        #[arg(long)]
        status: Option<u32>,
        #[command(flatten)]
        as_of: AsOfArg,
    },
}

/// Whose signatures make a checkpoint trusted.
#[derive(clap::Args, Debug, Clone)]
pub struct LogTrust {
    /// A log key a checkpoint is checked against (NAME+HEXID+BASE64; a
    /// cluster: repeat it for each voter, or separate them with commas);
    /// without one, the keys the node names, trusted on first use.
    #[arg(long = "log-key", env = "TANSIQ_LOG_KEY", value_delimiter = ',')]
    pub keys: Vec<String>,
    /// How many of those keys must have signed (default: all; a cluster
    /// of 3 voters speaks with 2).
    #[arg(long)]
    pub quorum: Option<usize>,
}

/// Coverage queries: common arguments.
#[derive(clap::Args, Debug)]
pub struct AsOfArg {
    /// Answer as the ledger stood at the end of this day (YYYY-MM-DD, UTC).
    #[arg(long)]
    pub as_of: Option<String>,
    /// Cluster: first wait until this node has applied everything the
    /// leader had committed (fails if the leader cannot be reached).
    /// Without it, the node answers from what it has applied.
    #[arg(long)]
    pub linearizable: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Hxl,
    Iati,
}

#[derive(Subcommand, Debug, Clone)]
pub enum ClusterAction {
    /// Form a new cluster whose first voters are these members (once, on one node).
    Init {
        /// ID=URL of each voter, e.g. --member 1=http://10.0.0.1:50051
        #[arg(long = "member", required = true)]
        members: Vec<String>,
    },
    /// Add a node as a learner (a donor site): it replicates, serves reads, forwards writes.
    AddLearner {
        /// ID=URL of the node.
        member: String,
    },
    /// Make a learner a voter (keeps the other voters).
    Promote { node_id: u64 },
    /// Remove a node from the voters (it stays a learner until removed from the cluster).
    Remove { node_id: u64 },
    /// Leader, term, each node's role, applied index, head hash and lag.
    Status,
}
