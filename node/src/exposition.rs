//! `/metrics`: the node's figures in the Prometheus text format, with the
//! Prometheus project's client. Counters and the commit-latency histogram
//! are kept as requests are answered (a single node's committer, a
//! cluster leader's proposals) and as limits refuse; gauges, and the
//! counters a cluster's state machine keeps, are read when a scraper asks
//! (log position, queue, Raft, snapshots, outbox, storage, files).

use std::sync::LazyLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// The node's metrics, one set per process.
pub struct Exported {
    registry: Registry,
    /// Events committed (not counting duplicates).
    pub events_committed: IntCounter,
    /// Requests refused, by reason (`tansiq-reason`).
    pub requests_refused: IntCounterVec,
    /// Events already on the ledger when submitted again.
    pub duplicates: IntCounter,
    /// Commit groups written (each one synced write).
    pub commit_groups: IntCounter,
    /// From a request's arrival to its receipt.
    pub commit_latency: Histogram,
    pub log_position: IntGauge,
    pub commit_queue: IntGauge,
    pub uptime: IntGauge,
    pub open_files: IntGauge,
    pub store_sst_bytes: IntGauge,
    pub store_memtable_bytes: IntGauge,
    pub store_table_readers_bytes: IntGauge,
    pub store_block_cache_bytes: IntGauge,
    pub store_write_stopped: IntGauge,
    pub raft_term: IntGauge,
    pub raft_leader: IntGauge,
    pub raft_last_log_index: IntGauge,
    pub raft_applied_index: IntGauge,
    /// The leader's view: entries each peer's log is behind the leader's.
    pub raft_peer_lag: IntGaugeVec,
    /// On the leader: the highest index a majority of the voters hold.
    pub raft_commit_index: IntGauge,
    pub raft_snapshot_index: IntGauge,
    pub raft_purged_index: IntGauge,
    /// Events this member's state machine applied (cluster).
    pub events_applied: IntCounter,
    /// Requests of committed entries refused at apply (cluster).
    pub refused_at_apply: IntCounter,
    pub snapshots_built: IntCounter,
    pub snapshots_installed: IntCounter,
    /// A donor site's outbox: requests and their events waiting for the leader.
    pub outbox_requests: IntGauge,
    pub outbox_events: IntGauge,
    /// A cluster member's submissions waiting to be proposed.
    pub proposal_queue: IntGauge,
    /// Requests and connections a resource limit refused, by limit.
    pub limit_refusals: IntCounterVec,
    /// gRPC connections holding a connection slot.
    pub connections_open: IntGauge,
}

/// A resource limit that refused something (the `limit` label of
/// `tansiq_limit_refusals_total`; README, "Limits").
#[derive(Clone, Copy, Debug)]
pub enum Limit {
    /// Every connection slot taken (`--max-connections`).
    Connections,
    /// Every slot of one address taken.
    ConnectionsPerAddress,
    /// Request bytes being received, in all.
    ReceivingBytes,
    /// Request bytes being received from one address.
    ReceivingBytesPerAddress,
    /// A request not received and answered in time.
    RequestTime,
    /// Log subscriptions open at once.
    Subscriptions,
    /// Console pages being rendered at once.
    ConsolePages,
}

impl Limit {
    fn label(self) -> &'static str {
        match self {
            Limit::Connections => "connections",
            Limit::ConnectionsPerAddress => "connections_per_address",
            Limit::ReceivingBytes => "receiving_bytes",
            Limit::ReceivingBytesPerAddress => "receiving_bytes_per_address",
            Limit::RequestTime => "request_time",
            Limit::Subscriptions => "subscriptions",
            Limit::ConsolePages => "console_pages",
        }
    }
}

/// `metric`, registered with `registry`.
fn registered<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: M,
) -> M {
    registry
        .register(Box::new(metric.clone()))
        .expect("invariant: each metric registered once");
    metric
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    registered(
        registry,
        IntCounter::new(name, help).expect("invariant: a valid metric name"),
    )
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    registered(
        registry,
        IntGauge::new(name, help).expect("invariant: a valid metric name"),
    )
}

/// The process's metrics.
pub static EXPORTED: LazyLock<Exported> = LazyLock::new(|| {
    let registry = Registry::new();
    let requests_refused = registered(
        &registry,
        IntCounterVec::new(
            Opts::new(
                "tansiq_requests_refused_total",
                "Submitted requests refused, by reason (the tansiq-reason of docs/PROTOCOL.md)",
            ),
            &["reason"],
        )
        .expect("invariant: a valid metric"),
    );
    let commit_latency = registered(
        &registry,
        Histogram::with_opts(
            HistogramOpts::new(
                "tansiq_commit_latency_seconds",
                "From a submission's arrival to its durable receipt (a single node, or a cluster's leader: replicated to a quorum and applied)",
            )
            .buckets(vec![
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
            ]),
        )
        .expect("invariant: a valid metric"),
    );
    let raft_peer_lag = registered(
        &registry,
        IntGaugeVec::new(
            Opts::new(
                "tansiq_raft_peer_lag_entries",
                "On the leader: entries of its log each peer has not matched yet",
            ),
            &["peer"],
        )
        .expect("invariant: a valid metric"),
    );
    let limit_refusals = registered(
        &registry,
        IntCounterVec::new(
            Opts::new(
                "tansiq_limit_refusals_total",
                "Requests and connections refused by a resource limit, by limit (README, Limits)",
            ),
            &["limit"],
        )
        .expect("invariant: a valid metric"),
    );
    Exported {
        events_committed: counter(
            &registry,
            "tansiq_events_committed_total",
            "Events committed for this node's clients (a single node's committer, a cluster leader's proposals)",
        ),
        requests_refused,
        duplicates: counter(
            &registry,
            "tansiq_duplicate_events_total",
            "Events submitted again that were already on the ledger (single node, cluster leader)",
        ),
        commit_groups: counter(
            &registry,
            "tansiq_commit_groups_total",
            "Commit groups written, one synced write each",
        ),
        commit_latency,
        log_position: gauge(
            &registry,
            "tansiq_log_position",
            "The last position of this node's log",
        ),
        commit_queue: gauge(
            &registry,
            "tansiq_commit_queue_requests",
            "Requests waiting for the committer",
        ),
        uptime: gauge(
            &registry,
            "tansiq_uptime_seconds",
            "Seconds since the node started",
        ),
        open_files: gauge(
            &registry,
            "tansiq_open_files",
            "File descriptors the process holds (files and connections)",
        ),
        store_sst_bytes: gauge(
            &registry,
            "tansiq_store_sst_bytes",
            "Bytes of RocksDB's live SST files",
        ),
        store_memtable_bytes: gauge(
            &registry,
            "tansiq_store_memtable_bytes",
            "Bytes of RocksDB's memtables",
        ),
        store_table_readers_bytes: gauge(
            &registry,
            "tansiq_store_table_readers_bytes",
            "Bytes RocksDB estimates its open table files' readers hold outside the block cache (their index and filter blocks are in it)",
        ),
        store_block_cache_bytes: gauge(
            &registry,
            "tansiq_store_block_cache_bytes",
            "Bytes of RocksDB's block cache in use: data, index and filter blocks (memtables are charged to it too)",
        ),
        store_write_stopped: gauge(
            &registry,
            "tansiq_store_write_stopped",
            "1 while RocksDB stops writes (a stall)",
        ),
        raft_term: gauge(
            &registry,
            "tansiq_raft_term",
            "The Raft term this member knows (cluster)",
        ),
        raft_leader: gauge(
            &registry,
            "tansiq_raft_leader",
            "1 on the leader, 0 elsewhere (cluster)",
        ),
        raft_last_log_index: gauge(
            &registry,
            "tansiq_raft_last_log_index",
            "The last index of this member's Raft log (cluster)",
        ),
        raft_applied_index: gauge(
            &registry,
            "tansiq_raft_applied_index",
            "The last Raft index this member applied (cluster)",
        ),
        raft_peer_lag,
        raft_commit_index: gauge(
            &registry,
            "tansiq_raft_commit_index",
            "On the leader: the highest Raft index a majority of the voters hold (0 elsewhere)",
        ),
        raft_snapshot_index: gauge(
            &registry,
            "tansiq_raft_snapshot_index",
            "The last Raft index of this member's latest snapshot (cluster)",
        ),
        raft_purged_index: gauge(
            &registry,
            "tansiq_raft_purged_index",
            "The Raft index up to which this member purged its log (cluster)",
        ),
        events_applied: counter(
            &registry,
            "tansiq_raft_events_applied_total",
            "Events this member's state machine applied from the Raft log (cluster)",
        ),
        refused_at_apply: counter(
            &registry,
            "tansiq_raft_requests_refused_at_apply_total",
            "Requests of committed Raft entries the ledger refused at apply (cluster)",
        ),
        snapshots_built: counter(
            &registry,
            "tansiq_raft_snapshots_built_total",
            "Snapshots of the state this member built (cluster)",
        ),
        snapshots_installed: counter(
            &registry,
            "tansiq_raft_snapshots_installed_total",
            "Snapshots this member received from a leader and installed (cluster)",
        ),
        outbox_requests: gauge(
            &registry,
            "tansiq_outbox_requests",
            "A donor site's outbox: requests accepted and not yet delivered to the leader",
        ),
        outbox_events: gauge(
            &registry,
            "tansiq_outbox_events",
            "A donor site's outbox: the signed events of those requests",
        ),
        proposal_queue: gauge(
            &registry,
            "tansiq_proposal_queue_requests",
            "Submissions waiting for this member's proposal loop (cluster)",
        ),
        limit_refusals,
        connections_open: gauge(
            &registry,
            "tansiq_connections_open",
            "gRPC connections holding one of the node's connection slots",
        ),
        registry,
    }
});

/// Moves each counter up to the atomic kept elsewhere (another crate
/// counts) beside it. Under one lock: two scrapes at once must not both add
/// the same difference.
pub fn catch_up(pairs: &[(&IntCounter, &std::sync::atomic::AtomicU64)]) {
    static CATCHING_UP: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = tansiq_ledger::sync::lock_whole(&CATCHING_UP);
    for (counter, counted) in pairs {
        let (current, value) = (
            counter.get(),
            counted.load(std::sync::atomic::Ordering::Relaxed),
        );
        if value > current {
            counter.inc_by(value - current);
        }
    }
}

impl Exported {
    /// Counts one answered submission: its new and duplicate events, or its
    /// refusal by reason, and its latency.
    pub fn record_request(
        &self,
        outcome: Result<&[tansiq_ledger::Receipt], &tansiq_ledger::Rejection>,
        latency: std::time::Duration,
    ) {
        match outcome {
            Ok(receipts) => {
                for receipt in receipts {
                    if receipt.duplicate {
                        self.duplicates.inc();
                    } else {
                        self.events_committed.inc();
                    }
                }
            }
            Err(rejection) => self
                .requests_refused
                .with_label_values(&[rejection.reason()])
                .inc(),
        }
        self.commit_latency.observe(latency.as_secs_f64());
    }

    /// Counts a refusal by `limit`.
    pub fn refused_by(&self, limit: Limit) {
        self.limit_refusals
            .with_label_values(&[limit.label()])
            .inc();
    }

    /// Everything, in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut text = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(error) = encoder.encode(&self.registry.gather(), &mut text) {
            tracing::warn!(%error, "cannot encode the metrics");
        }
        String::from_utf8_lossy(&text).into_owned()
    }
}

/// File descriptors the process holds (Linux; 0 elsewhere).
pub fn open_files() -> i64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |entries| entries.count() as i64)
}
