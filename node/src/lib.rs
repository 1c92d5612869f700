//! The Tansiq node: wiring of the ledger, the group committer and the gRPC
//! services. `main.rs` only parses arguments and calls [`run`].

pub mod budget;
pub mod cluster;
pub mod committer;
pub mod config;
pub mod connections;
pub mod console;
pub mod convert;
pub mod coverage_service;
pub mod demo;
pub mod dev;
pub mod exposition;
pub mod interchange;
pub mod limits;
pub mod log_key;
pub mod maintenance;
pub mod peer_identity;
pub mod recovery;
pub mod service;
pub mod status;
pub mod tls;

use std::io::Write;
use std::sync::Arc;
use tansiq_ledger::limits::REQUEST_BYTES_MAX;

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
use crate::peer_identity::{ClusterGate, PeerIdentity};
use crate::recovery::{Recovery, Stopped, StorageFailure};
use crate::service::LedgerService;

/// Runs a node until SIGTERM or Ctrl-C, then drains in-flight commits and closes storage.
pub async fn run(config: Config) -> anyhow::Result<()> {
    // First, before storage and Raft start threads: a node that cannot
    // listen stops with nothing running (a process leaving while RocksDB's
    // and Raft's threads still run could abort on exit).
    let open_files = connections::raise_open_file_limit(&config.limits)?;
    let listen = recovery::listen_address(config.listen);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let console_listener = match config.http {
        Some(address) => Some(console::bind(address).await?),
        None => None,
    };
    // The map's shapes, checked now too: a bad file stops the node here.
    let boundaries = match &console_listener {
        Some(_) => console::map::load(config.boundaries.clone(), config.demo).await?,
        None => None,
    };
    // The console's access tokens, checked now too.
    let console_tokens = match &config.console_access.token_file {
        Some(path) => Some(Arc::new(console::access::Tokens::load(path)?)),
        None => None,
    };
    let genesis = match (&config.mode, &config.genesis) {
        (Mode::Dev, _) => Some(dev::dev_genesis(&config.data_dir)?),
        (Mode::Configured, Some(path)) => Some(GenesisFile::read(path)?),
        (Mode::Configured, None) => None,
    };
    let db_path = config.data_dir.join("db");
    let store_dir = db_path.clone();
    let ledger = {
        let genesis = genesis.clone();
        let copy = config.upgrade_copy;
        tokio::task::spawn_blocking(move || {
            Ledger::open_upgrading(&db_path, genesis.as_ref(), copy)
        })
        .await?
        .with_context(|| format!("cannot open the ledger in {}", config.data_dir.display()))?
    };
    // A data directory serves the one member (or single node) it belongs to.
    tansiq_ledger::replication::member::claim(ledger.store(), config.node_id)
        .with_context(|| format!("cannot start on {}", config.data_dir.display()))?;
    let ledger = Arc::new(ledger);
    let recovery = Arc::new(Recovery::new(&ledger, store_dir, listener.local_addr()?));
    let tip = ledger.tip()?;
    tracing::info!(
        chain_id = %ledger.chain(),
        genesis = %ledger.genesis().hash,
        position = tip.position.0,
        head = %tip.head,
        data_dir = %config.data_dir.display(),
        open_files,
        "ledger opened"
    );
    let tls = load_tls(&config, ledger.chain())?;
    let (tip_sender, tip_receiver) = watch::channel(tip);
    let tip_sender_for_raft = tip_sender.clone();
    let metrics = Arc::new(Metrics::default());
    let (committer, threads) = Committer::start(
        Arc::clone(&ledger),
        tip_sender,
        Arc::clone(&metrics),
        Arc::clone(&recovery),
    )?;
    if config.demo {
        demo::load(&config.data_dir, &ledger, &committer).await?;
    }
    let replication = match config.node_id {
        Some(node_id) => {
            let settings = cluster::ClusterSettings {
                peers: config.peers.clone(),
                snapshot_every: config.snapshot_every,
                snapshot_chunk_bytes: config.snapshot_chunk_bytes,
                tls: tls.clone(),
                ready_lag_max: config.ready_lag_max,
            };
            Some(
                Replication::start(node_id, Arc::clone(&ledger), tip_sender_for_raft, settings)
                    .await?,
            )
        }
        None => None,
    };
    let mut service = LedgerService::new(
        Arc::clone(&ledger),
        committer,
        tip_receiver,
        metrics,
        config.limits.subscribers_max,
    );
    if let Some(replication) = &replication {
        service = service.replicated(Arc::clone(replication));
    }
    service = service.backups_into(config.backup_dir.clone());
    let log_key = log_key::load_or_create(&config.data_dir, ledger.chain())?;
    tracing::info!(
        verifier_key = log_key.verifier_key(),
        "checkpoints of the log are signed with this key (Ledger.GetCheckpoint)"
    );
    service = service.signing_checkpoints(log_key);
    // Shared with the console, which calls the same services in process.
    let service = Arc::new(service);
    tokio::spawn(service::checkpoint_every(Arc::downgrade(&service)));
    let coverage = Arc::new(CoverageService::new(
        Arc::clone(&ledger),
        replication.clone(),
    ));

    tokio::spawn(coverage_service::keep_counts(Arc::downgrade(&ledger)));

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<LedgerServer<LedgerService>>()
        .await;
    health_reporter
        .set_serving::<CoverageServer<CoverageService>>()
        .await;
    if let Some(replication) = &replication {
        tokio::spawn(report_a_stopped_raft_core(
            Arc::clone(replication),
            health_reporter.clone(),
            Arc::clone(&recovery),
        ));
    }
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tansiq_proto::FILE_DESCRIPTOR_SET)
        .build_v1()?;

    // Before the node says it listens: a SIGTERM sent the moment a script
    // reads that line must stop the node cleanly, not kill it (a signal
    // handler not yet installed leaves the default action).
    let shutdown = shutdown_signal();
    let address = listener.local_addr()?;
    tracing::info!(
        %address,
        tls = tls.is_some(),
        "serving gRPC (tansiq.v1.Ledger, tansiq.v1.Coverage, tansiq.v1.Interchange, health, reflection)"
    );
    // Machine-readable line for scripts and tests that start the node on
    // port 0. A node restarted in place (crate::recovery) prints it again,
    // and a reader gone since must not stop it: a failed write is ignored.
    let _ = writeln!(std::io::stdout(), "tansiq-node listening on {address}");
    let console = match console_listener {
        Some(listener) => {
            let address = listener.local_addr()?;
            let access = &config.console_access;
            let security = console::Security {
                access: console::access::Access {
                    tokens: console_tokens.clone(),
                },
                tls: match (&tls, access.tls) {
                    (Some(tls), true) => {
                        let (ca, cert, key) = tls.pem();
                        let pem = console::access::TlsPem {
                            ca: ca.to_vec(),
                            cert: cert.to_vec(),
                            key: key.to_vec(),
                        };
                        Some(console::access::tls_acceptor(
                            &pem,
                            access.client_certificates,
                        )?)
                    }
                    _ => None,
                },
            };
            let scheme = if security.tls.is_some() {
                "https"
            } else {
                "http"
            };
            tracing::info!(
                %address,
                tls = security.tls.is_some(),
                tokens = security.access.tokens.is_some(),
                client_certificates = access.client_certificates,
                "serving the analyst console (read-only HTML)"
            );
            let _ = writeln!(
                std::io::stdout(),
                "tansiq-node console on {scheme}://{address}/"
            );
            let sources = console::Sources::new(Arc::clone(&service), Arc::clone(&coverage));
            Some(console::start(listener, sources, boundaries, security))
        }
        None => None,
    };

    let limits = &config.limits;
    let mut server = tonic::transport::Server::builder()
        .max_concurrent_streams(limits.streams_per_connection_max)
        .concurrency_limit_per_connection(limits.streams_per_connection_max as usize)
        .http2_keepalive_interval(Some(limits.keepalive_interval))
        .http2_keepalive_timeout(Some(limits.keepalive_timeout))
        .tcp_keepalive(Some(limits.keepalive_interval))
        .http2_max_header_list_size(64 * 1024);
    if let Some(tls) = &tls {
        server = server.tls_config(tls.server_config().timeout(limits.tls_handshake_timeout))?;
    }
    server
        .layer(budget::BudgetLayer::new(limits))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(
            LedgerServer::from_arc(service)
                .max_decoding_message_size(REQUEST_BYTES_MAX)
                .max_encoding_message_size(REQUEST_BYTES_MAX),
        )
        .add_service(
            CoverageServer::from_arc(coverage).max_encoding_message_size(REQUEST_BYTES_MAX),
        )
        .add_service(
            InterchangeServer::new(interchange::InterchangeService::new(Arc::clone(&ledger)))
                .max_decoding_message_size(REQUEST_BYTES_MAX)
                .max_encoding_message_size(usize::MAX),
        )
        .add_optional_service(replication.as_ref().map(|replication| {
            // The gate refuses a caller whose certificate does not allow the
            // call before anything of its message is read.
            ClusterGate::new(
                ClusterServer::new(ClusterService::new(Arc::clone(replication)))
                    .max_decoding_message_size(tansiq_ledger::limits::CLUSTER_MESSAGE_BYTES_MAX)
                    .max_encoding_message_size(tansiq_ledger::limits::CLUSTER_MESSAGE_BYTES_MAX),
                tls.is_some().then(|| ledger.chain()),
            )
        }))
        .serve_with_incoming_shutdown(connections::accept(listener, limits), shutdown)
        .await?;
    // The console holds the ledger service, and with it the committer.
    if let Some(console) = console {
        console.stop().await;
    }

    tracing::info!("shutting down: draining in-flight commits");
    tokio::task::spawn_blocking(move || threads.join()).await?;
    drop(ledger);
    tracing::info!("stopped cleanly");
    Ok(())
}

/// A member whose Raft core stopped (a storage failure, or an invariant
/// openraft refuses to break) replicates nothing any more: it says so in
/// its log and reports NOT_SERVING on gRPC health for every service, so that
/// a load balancer or supervisor stops sending it clients. Its reads still
/// answer, each naming the applied index it reflects. After a storage
/// failure that reopening the store clears, it restarts itself in place
/// once its storage is usable again (see [`recovery`]), and catches up.
async fn report_a_stopped_raft_core(
    replication: Arc<Replication>,
    health: tonic_health::server::HealthReporter,
    recovery: Arc<Recovery>,
) {
    let mut metrics = replication.raft.metrics();
    loop {
        let stopped = metrics.borrow_and_update().running_state.clone().err();
        if let Some(fatal) = stopped {
            let applied_index = replication.applied_index();
            if recovery.storage_failed(&StorageFailure::of_stopped_raft(&fatal), Stopped::RaftCore)
            {
                tracing::error!(
                    %fatal,
                    applied_index,
                    "this member's Raft core stopped after a storage failure: it replicates nothing more and reports NOT_SERVING; its answers are as of the applied index. It restarts itself in place once its storage is usable again, then catches up"
                );
            } else {
                tracing::error!(
                    %fatal,
                    applied_index,
                    "this member's Raft core stopped: it replicates nothing more and reports NOT_SERVING; its answers are as of the applied index; restart it (after fixing the cause) to catch up"
                );
            }
            health
                .set_not_serving::<LedgerServer<LedgerService>>()
                .await;
            health
                .set_not_serving::<CoverageServer<CoverageService>>()
                .await;
            health
                .set_service_status("", tonic_health::ServingStatus::NotServing)
                .await;
            return;
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

/// The node's TLS material; a cluster member's certificate must name it.
fn load_tls(
    config: &Config,
    chain: &tansiq_ledger::signing::ChainId,
) -> anyhow::Result<Option<tls::Tls>> {
    let tls = match &config.transport {
        Transport::Plaintext => return Ok(None),
        Transport::Tls(files) => tls::Tls::load(files)?,
        Transport::DevTls { ca_dir, role } => {
            let identity = config
                .node_id
                .map(|node_id| PeerIdentity::node(chain, *role, node_id));
            tls::Tls::load(&tls::dev_files(
                &config.data_dir,
                ca_dir.as_deref(),
                identity.as_ref(),
                chain,
            )?)?
        }
    };
    if let Some(node_id) = config.node_id {
        let identity = tls.check_names_node(chain, node_id)?;
        tracing::info!(%identity, "the node certificate names this node");
    }
    Ok(Some(tls))
}

/// The node's stop: SIGTERM or Ctrl-C. The handlers are installed when
/// this is called, not when the future is first polled.
#[cfg(unix)]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let interrupt = signal(SignalKind::interrupt());
    let terminate = signal(SignalKind::terminate());
    async move {
        match (interrupt, terminate) {
            (Ok(mut interrupt), Ok(mut terminate)) => {
                tokio::select! {
                    _ = interrupt.recv() => {},
                    _ = terminate.recv() => {},
                }
            }
            (interrupt, terminate) => {
                tracing::warn!("cannot listen for both SIGTERM and Ctrl-C: the node stops on the one it can hear, if any");
                if let Ok(mut signal) = interrupt.or(terminate) {
                    signal.recv().await;
                } else {
                    std::future::pending::<()>().await;
                }
            }
        }
        tracing::info!("shutdown signal received");
    }
}

#[cfg(not(unix))]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown signal received");
    }
}
