//! `/metrics`: the node's figures in the Prometheus text format, with the
//! Prometheus project's client. Counters and the commit-latency histogram
//! are kept as commits happen (single node: the committer); gauges are
//! read when a scraper asks (log position, queue, Raft, storage, files).

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
    pub store_write_stopped: IntGauge,
    pub raft_term: IntGauge,
    pub raft_leader: IntGauge,
    pub raft_last_log_index: IntGauge,
    pub raft_applied_index: IntGauge,
    /// The leader's view: entries each peer's log is behind the leader's.
    pub raft_peer_lag: IntGaugeVec,
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
                "From a submission's arrival to its durable receipt (single node)",
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
    Exported {
        events_committed: counter(
            &registry,
            "tansiq_events_committed_total",
            "Events committed by this node's committer (single node)",
        ),
        requests_refused,
        duplicates: counter(
            &registry,
            "tansiq_duplicate_events_total",
            "Events submitted again that were already on the ledger",
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
        registry,
    }
});

impl Exported {
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
