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
    /// Node to talk to.
    #[arg(
        long,
        global = true,
        env = "TANSIQ_NODE",
        default_value = "http://127.0.0.1:50051"
    )]
    pub node: String,
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
    /// Create a new ed25519 signing key file for an organisation.
    Keygen {
        /// Organisation id the key signs for (e.g. undp-libya).
        #[arg(long)]
        org: String,
        /// Where to write the key file (never overwritten; mode 0600).
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
    /// Re-check every signature, every key's chain and the log head chain of a node.
    Verify,
}
