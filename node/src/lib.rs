//! The Tansiq node: wiring of the ledger, the group committer and the gRPC
//! services. `main.rs` only parses arguments and calls [`run`].

pub mod cluster;
pub mod committer;
pub mod config;
pub mod coverage_service;
pub mod demo;
pub mod dev;
pub mod interchange;
pub mod service;
pub mod status;
pub mod tls;

use std::sync::Arc;

use anyhow::Context;
use tansiq_ledger::genesis::GenesisFile;
use tansiq_ledger::Ledger;
use tansiq_proto::v1::cluster_server::ClusterServer;
use tansiq_proto::v1::coverage_server::CoverageServer;
use tansiq_proto::v1::interchange_server::InterchangeServer;
use tansiq_proto::v1::ledger_server::LedgerServer;
use tokio::sync::watch;

use crate::cluster::{ClusterService, Replication};
use crate::committer::{Committer, Metrics};
use crate::config::{Config, Mode, Transport};
use crate::coverage_service::CoverageService;
use crate::service::LedgerService;

/// Largest gRPC request the node decodes (a full SubmitBatch of typical events fits).
pub const REQUEST_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Runs a node until SIGTERM or Ctrl-C, then drains in-flight commits and closes storage.
pub async fn run(config: Config) -> anyhow::Result<()> {
    // First, before storage and Raft start threads: a node that cannot
    // listen stops with nothing running (a process leaving while RocksDB's
    // and Raft's threads still run could abort on exit).
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let genesis = match (&config.mode, &config.genesis) {
        (Mode::Dev, _) => Some(dev::dev_genesis(&config.data_dir)?),
        (Mode::Configured, Some(path)) => Some(GenesisFile::read(path)?),
        (Mode::Configured, None) => None,
    };
    let db_path = config.data_dir.join("db");
    let ledger = {
        let genesis = genesis.clone();
        tokio::task::spawn_blocking(move || Ledger::open(&db_path, genesis.as_ref()))
            .await?
            .with_context(|| format!("cannot open the ledger in {}", config.data_dir.display()))?
    };
    let ledger = Arc::new(ledger);
    let tip = ledger.tip()?;
    tracing::info!(
        chain_id = %ledger.chain(),
        genesis = %ledger.genesis().hash,
        position = tip.position.0,
        head = %tip.head,
        data_dir = %config.data_dir.display(),
        "ledger opened"
    );
    let (tip_sender, tip_receiver) = watch::channel(tip);
    let tip_sender_for_raft = tip_sender.clone();
    let metrics = Arc::new(Metrics::default());
    let (committer, threads) =
        Committer::start(Arc::clone(&ledger), tip_sender, Arc::clone(&metrics))?;
    if config.demo {
        demo::load(&config.data_dir, &ledger, &committer).await?;
    }
    let tls = match &config.transport {
        Transport::Plaintext => None,
        Transport::Tls(files) => Some(tls::Tls::load(files)?),
        Transport::DevTls { ca_dir } => Some(tls::Tls::load(&tls::dev_files(
            &config.data_dir,
            ca_dir.as_deref(),
        )?)?),
    };
    let replication = match config.node_id {
        Some(node_id) => {
            let settings = cluster::ClusterSettings {
                peers: config.peers.clone(),
                snapshot_every: config.snapshot_every,
                snapshot_chunk_bytes: config.snapshot_chunk_bytes,
                tls: tls.clone(),
            };
            Some(
                Replication::start(node_id, Arc::clone(&ledger), tip_sender_for_raft, settings)
                    .await?,
            )
        }
        None => None,
    };
    let mut service = LedgerService::new(Arc::clone(&ledger), committer, tip_receiver, metrics);
    if let Some(replication) = &replication {
        service = service.replicated(Arc::clone(replication));
    }
    let coverage = CoverageService::new(Arc::clone(&ledger), replication.clone());

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<LedgerServer<LedgerService>>()
        .await;
    health_reporter
        .set_serving::<CoverageServer<CoverageService>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tansiq_proto::FILE_DESCRIPTOR_SET)
        .build_v1()?;

    let address = listener.local_addr()?;
    tracing::info!(
        %address,
        tls = tls.is_some(),
        "serving gRPC (tansiq.v1.Ledger, tansiq.v1.Coverage, tansiq.v1.Interchange, health, reflection)"
    );
    // Machine-readable line for scripts and tests that start the node on port 0.
    println!("tansiq-node listening on {address}");

    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = &tls {
        server = server.tls_config(tls.server_config())?;
    }
    server
        .add_service(health_service)
        .add_service(reflection)
        .add_service(
            LedgerServer::new(service)
                .max_decoding_message_size(REQUEST_BYTES_MAX)
                .max_encoding_message_size(REQUEST_BYTES_MAX),
        )
        .add_service(CoverageServer::new(coverage).max_encoding_message_size(REQUEST_BYTES_MAX))
        .add_service(
            InterchangeServer::new(interchange::InterchangeService::new(Arc::clone(&ledger)))
                .max_decoding_message_size(REQUEST_BYTES_MAX)
                .max_encoding_message_size(usize::MAX),
        )
        .add_optional_service(replication.as_ref().map(|replication| {
            ClusterServer::new(ClusterService::new(Arc::clone(replication)))
                .max_decoding_message_size(usize::MAX)
                .max_encoding_message_size(usize::MAX)
        }))
        .serve_with_incoming_shutdown(
            // Small request/response messages (submissions, Raft heartbeats,
            // reads) must not wait for Nagle's algorithm.
            tokio_stream::StreamExt::map(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                |stream| {
                    stream.inspect(|tcp| {
                        let _ = tcp.set_nodelay(true);
                    })
                },
            ),
            shutdown_signal(),
        )
        .await?;

    tracing::info!("shutting down: draining in-flight commits");
    tokio::task::spawn_blocking(move || threads.join()).await?;
    drop(ledger);
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the node");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutdown signal received");
}
