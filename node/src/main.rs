//! `tansiq-node`: parses its configuration and runs the node.

use anyhow::Context;
use clap::Parser;
use tansiq_node::config::{Args, Config, LogFormat};

/// mimalloc: glibc's malloc and free took about a quarter of a cluster
/// node's CPU under load (many small allocations across threads).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// RocksDB is C++ and allocates through glibc's malloc, not the allocator
/// above: its block cache's blocks, memtable arenas and iterators' buffers.
/// glibc gives each thread that allocates under contention an arena of its
/// own (up to eight per core) and returns freed memory from an arena only
/// at its top, so blocks read by one query thread and evicted later leave
/// holes in every arena: at a million events, RocksDB's 64 MiB cache ended
/// up spread over five arenas of 48-60 MiB each, and the node's peak after
/// bench/memory.sh's steps was 305-343 MiB (165 MiB with one arena; the
/// ingest benches moved within their noise). One arena, unless the operator
/// set `MALLOC_ARENA_MAX` themselves.
#[allow(unsafe_code)]
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a parameter of glibc's allocator; it is
        // called before the node starts any thread.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    let mut args = Args::parse();
    if let Some(task) = args.maintenance.take() {
        return match tansiq_node::maintenance::run(task) {
            Ok(done) => {
                // `dump` says nothing here: its output is JSON lines only.
                if !done.is_empty() {
                    println!("tansiq-node: {done}");
                }
                std::process::ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("tansiq-node: {error:#}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let check_only = args.check_config;
    let config = match Config::from_args(args) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("tansiq-node: {error:#}");
            return std::process::ExitCode::from(2);
        }
    };
    if check_only {
        return match check(&config) {
            Ok(summary) => {
                println!("tansiq-node: configuration valid: {summary}");
                std::process::ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("tansiq-node: {error:#}");
                std::process::ExitCode::from(2)
            }
        };
    }
    init_tracing(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tansiq-node: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(tansiq_node::run(config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("tansiq-node: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Without RUST_LOG: info, but not openraft's lines at every retry towards
/// a peer out of reach (5 lines, 1 at ERROR, every 500 ms per peer, measured):
/// the node logs once when a peer goes out of reach and once when it is back.
const DEFAULT_LOG_FILTER: &str =
    "info,openraft::replication=off,openraft::engine::handler::replication_handler=off";

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    // Colours only for a person at a terminal: a log file or the journal
    // gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// What `--check-config` checks beyond the flags: that the genesis file
/// reads; and what the node would run with.
fn check(config: &Config) -> anyhow::Result<String> {
    if let Some(path) = &config.genesis {
        tansiq_ledger::genesis::GenesisFile::read(path)?;
    }
    if let tansiq_node::config::Transport::Tls(files) = &config.transport {
        for (what, path) in [
            ("--tls-cert", &files.cert),
            ("--tls-key", &files.key),
            ("--tls-ca", &files.ca),
        ] {
            std::fs::File::open(path)
                .with_context(|| format!("{what} {}: cannot read it", path.display()))?;
        }
    }
    Ok(format!(
        "data dir {}, gRPC on {} ({}), console {}, mode {:?}{}, copy before a format upgrade: {}{}",
        config.data_dir.display(),
        config.listen,
        match &config.transport {
            tansiq_node::config::Transport::Plaintext => "plaintext",
            tansiq_node::config::Transport::Tls(_) => "TLS",
            tansiq_node::config::Transport::DevTls { .. } => "development TLS",
        },
        config
            .http
            .map_or_else(|| "off".to_owned(), |address| format!("on {address}")),
        config.mode,
        config
            .node_id
            .map_or_else(String::new, |id| format!(", cluster member {id}")),
        match config.upgrade_copy {
            tansiq_ledger::append::UpgradeCopy::Keep => "yes",
            tansiq_ledger::append::UpgradeCopy::Skip => "no",
            tansiq_ledger::append::UpgradeCopy::Leave => "no upgrade",
        },
        if config.node_id.is_some() {
            format!(
                ", ready within {} entries of the leader",
                config.ready_lag_max
            )
        } else {
            String::new()
        },
    ))
}
