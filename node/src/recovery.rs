//! Recovery from a storage error that reopening the store clears: a write
//! that failed on a full disk, with no file descriptor left, on a
//! permission or on a failing device (see
//! [`tansiq_ledger::store::StorageFault::reopen_clears`]).
//!
//! After such a failure RocksDB refuses every later write until it is
//! reopened; it recovers by itself only from a full disk, and neither the
//! `rocksdb` crate nor RocksDB's C API offers `DB::Resume` for the rest. A
//! cluster member's Raft core stops at the failure and cannot start again
//! in the same process. This module owns what the node does then. It goes
//! on answering reads, and one watcher thread, every [`PROBE_INTERVAL`]:
//!
//! - when only the store stopped ([`Stopped::Store`]), asks it whether it
//!   accepts writes again (RocksDB recovered by itself): then it ends;
//! - probes whether the storage is usable again ([`probe`]: file
//!   descriptors are left below the open-file limit, the file system has
//!   room for what a reopened store writes first, and a file can be
//!   created, written, synced and removed where the store writes). Once it
//!   is, and at least [`FAILURE_AGE_MIN`] after the failure, the node
//!   restarts in place: it executes its own binary again with the same
//!   arguments and environment, keeping its process id and standard
//!   streams.
//!
//! Every other file descriptor is close-on-exec (Rust's, tokio's,
//! RocksDB's), so the sockets and the store's lock are released and the new
//! process opens the store as after a restart: as safe as a kill -9, which
//! the node survives because a write is acknowledged only once synced. A
//! cluster member restarted so rejoins and catches up. If reopening fails
//! after all (a cause the probe does not see), the new process stops with
//! the error, as a restart by hand would.
//!
//! A node started on port 0 keeps the port it got: the address goes to the
//! new process in [`LISTEN_VARIABLE`].

use std::ffi::OsString;
use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use openraft::error::Fatal;
use tansiq_ledger::replication::NodeId;
use tansiq_ledger::store::{StorageFault, StoreError};
use tansiq_ledger::Ledger;

/// How often the watcher probes the storage.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(2);
/// The node restarts no sooner than this after the failure, so that a cause
/// that comes and goes (a flood of connections, a disk at its limit) cannot
/// make it restart in a tight loop.
pub const FAILURE_AGE_MIN: Duration = Duration::from_secs(5);
/// File descriptors that must be free below the soft open-file limit: a
/// reopened store opens its table files, logs and write-ahead log, and the
/// node its listener and clients' connections.
pub const FILE_DESCRIPTORS_FREE_MIN: u64 = 256;
/// Free space needed beyond the write-ahead log's size, which the reopened
/// store writes again as table files: a new write-ahead log, manifest and
/// options file, and room for writes after the restart (one memtable).
pub const FREE_BYTES_BEYOND_WAL: u64 = 64 * 1024 * 1024;
/// Bytes the probe writes and syncs.
const PROBE_FILE_BYTES: usize = 1024 * 1024;
/// The probe file, in the store's directory (RocksDB ignores a name it does
/// not know; the probe removes it again).
const PROBE_FILE: &str = "tansiq-storage-probe";

/// Set by a restart in place for the new process: the address the node
/// listened on (see [`listen_address`]).
pub const LISTEN_VARIABLE: &str = "TANSIQ_RESTART_LISTEN";

/// The address to listen on: `configured`, unless it has port 0 and this
/// process is a restart in place of a node that listened on the same IP
/// address, which keeps its port for its clients.
pub fn listen_address(configured: SocketAddr) -> SocketAddr {
    kept_address(configured, std::env::var(LISTEN_VARIABLE).ok().as_deref())
}

/// [`listen_address`], given the value of [`LISTEN_VARIABLE`].
fn kept_address(configured: SocketAddr, variable: Option<&str>) -> SocketAddr {
    match variable.and_then(|text| text.parse::<SocketAddr>().ok()) {
        Some(kept) if configured.port() == 0 && kept.ip() == configured.ip() => kept,
        _ => configured,
    }
}

/// What a storage failure stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// The store's writes only (a single node's committer). RocksDB recovers
    /// by itself from some failures once their cause is gone (a full disk,
    /// through its no-space recovery): then nothing needs restarting.
    Store,
    /// A cluster member's Raft core, which cannot start again in this
    /// process: only a restart brings the member back.
    RaftCore,
}

/// The node's recovery from storage errors: at most one watcher at a time.
pub struct Recovery {
    ledger: Weak<Ledger>,
    store_dir: PathBuf,
    listening_on: SocketAddr,
    watching: AtomicBool,
    /// Set for good once the Raft core stopped: only a restart helps then.
    raft_core_stopped: AtomicBool,
}

impl Recovery {
    /// Recovery for `ledger`, whose store is in `store_dir`, of a node
    /// listening on `listening_on` (the bound address, port 0 resolved).
    pub fn new(ledger: &Arc<Ledger>, store_dir: PathBuf, listening_on: SocketAddr) -> Recovery {
        Recovery {
            ledger: Arc::downgrade(ledger),
            store_dir,
            listening_on,
            watching: AtomicBool::new(false),
            raft_core_stopped: AtomicBool::new(false),
        }
    }

    /// A write failed with `failure` and stopped what `stopped` says. When
    /// reopening the store clears the failure (by its fault), starts the
    /// watcher (unless one runs) and returns true; otherwise the node stays
    /// as it is until an operator restarts it, and this returns false.
    pub fn storage_failed(self: &Arc<Self>, failure: &StorageFailure, stopped: Stopped) -> bool {
        if !failure.fault.reopen_clears() {
            return false;
        }
        if stopped == Stopped::RaftCore {
            // Seen by a watcher already running for the store alone.
            self.raft_core_stopped.store(true, Ordering::SeqCst);
        }
        if self.watching.swap(true, Ordering::SeqCst) {
            return true;
        }
        let failure = failure.message.as_str();
        let watcher = Watcher {
            recovery: Arc::clone(self),
            failure: failure.to_owned(),
            failed_at: Instant::now(),
        };
        let started = std::thread::Builder::new()
            .name("tansiq-recovery".into())
            .spawn(move || watcher.run());
        match started {
            Ok(_) => {
                let outcome = match stopped {
                    Stopped::Store => "writes resume by themselves once the storage is usable again (RocksDB recovers, or this node restarts in place)",
                    Stopped::RaftCore => "this node restarts itself in place once its storage is usable again, and catches up",
                };
                tracing::warn!(
                    failure,
                    probe_interval_s = PROBE_INTERVAL.as_secs(),
                    "the store refuses writes; reads go on; {outcome}"
                );
                true
            }
            Err(error) => {
                self.watching.store(false, Ordering::SeqCst);
                tracing::error!(%error, failure, "cannot start watching the storage: writes stay refused until tansiq-node is restarted");
                false
            }
        }
    }
}

/// The watcher's thread: probes until the storage is usable, then restarts
/// (or, when only the store stopped and it recovered by itself, ends).
struct Watcher {
    recovery: Arc<Recovery>,
    failure: String,
    failed_at: Instant,
}

impl Watcher {
    fn run(self) {
        let mut reported: Option<std::mem::Discriminant<NotYet>> = None;
        loop {
            std::thread::sleep(PROBE_INTERVAL);
            // The node is shutting down: nothing to recover.
            let Some(ledger) = self.recovery.ledger.upgrade() else {
                return;
            };
            let raft_core_stopped = self.recovery.raft_core_stopped.load(Ordering::SeqCst);
            if !raft_core_stopped && ledger.store().accepts_writes().is_ok() {
                tracing::warn!(
                    failure = %self.failure,
                    failed_s_ago = self.failed_at.elapsed().as_secs(),
                    "the store accepts writes again (RocksDB recovered by itself): no restart needed"
                );
                self.recovery.watching.store(false, Ordering::SeqCst);
                return;
            }
            drop(ledger);
            match probe(&self.recovery.store_dir) {
                Err(not_yet) => {
                    // Once per kind of reason, not at every probe.
                    let kind = std::mem::discriminant(&not_yet);
                    if reported != Some(kind) {
                        tracing::warn!(%not_yet, "storage not usable yet; writes stay refused, probing again");
                        reported = Some(kind);
                    }
                }
                Ok(()) if self.failed_at.elapsed() < FAILURE_AGE_MIN => {}
                Ok(()) => {
                    tracing::warn!(
                        failure = %self.failure,
                        failed_s_ago = self.failed_at.elapsed().as_secs(),
                        "storage is usable again: restarting in place to reopen the store (same process id, arguments and environment)"
                    );
                    let error = restart_in_place(self.recovery.listening_on);
                    tracing::error!(%error, "cannot restart in place: writes stay refused until tansiq-node is restarted");
                    return;
                }
            }
        }
    }
}

/// Why the storage is not usable yet.
#[derive(Debug)]
enum NotYet {
    Io {
        step: &'static str,
        path: PathBuf,
        error: io::Error,
    },
    FileDescriptors {
        open: u64,
        limit: u64,
    },
    Space {
        free_bytes: u64,
        needed_bytes: u64,
    },
}

impl fmt::Display for NotYet {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotYet::Io { step, path, error } => {
                write!(formatter, "cannot {step} {}: {error}", path.display())
            }
            NotYet::FileDescriptors { open, limit } => write!(
                formatter,
                "{open} file descriptors open, soft open-file limit {limit}: fewer than {FILE_DESCRIPTORS_FREE_MIN} free"
            ),
            NotYet::Space {
                free_bytes,
                needed_bytes,
            } => write!(
                formatter,
                "{free_bytes} bytes free on the store's file system, {needed_bytes} needed (the write-ahead log, written again at reopening, and {FREE_BYTES_BEYOND_WAL} more)"
            ),
        }
    }
}

/// Whether the store in `store_dir` could be reopened and written now. File
/// descriptors first (everything else needs one), then free space (so that
/// the probe file never takes the last of it), then a probe file.
fn probe(store_dir: &Path) -> Result<(), NotYet> {
    let descriptors = Path::new("/proc/self/fd");
    let open = std::fs::read_dir(descriptors)
        .map_err(|error| NotYet::Io {
            step: "list",
            path: descriptors.to_path_buf(),
            error,
        })?
        .count() as u64;
    let (limit, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).map_err(|error| NotYet::Io {
        step: "read the open-file limit of",
        path: descriptors.to_path_buf(),
        error,
    })?;
    if limit.saturating_sub(open) < FILE_DESCRIPTORS_FREE_MIN {
        return Err(NotYet::FileDescriptors { open, limit });
    }

    let io = |step, path: &Path| {
        let path = path.to_path_buf();
        move |error: io::Error| NotYet::Io { step, path, error }
    };
    let space = rustix::fs::statvfs(store_dir)
        .map_err(io::Error::from)
        .map_err(io("measure the free space of", store_dir))?;
    let free_bytes = space.f_bavail.saturating_mul(space.f_frsize);
    let needed_bytes = write_ahead_log_bytes(store_dir)
        .map_err(io("list", store_dir))?
        .saturating_add(FREE_BYTES_BEYOND_WAL);
    if free_bytes < needed_bytes {
        return Err(NotYet::Space {
            free_bytes,
            needed_bytes,
        });
    }

    let path = store_dir.join(PROBE_FILE);
    let written = std::fs::File::create(&path)
        .map_err(io("create", &path))
        .and_then(|mut file| {
            file.write_all(&vec![0; PROBE_FILE_BYTES])
                .and_then(|()| file.sync_all())
                .map_err(io("write and sync", &path))
        });
    let removed = std::fs::remove_file(&path).map_err(io("remove", &path));
    written.and(removed)
}

/// The size of RocksDB's write-ahead log files (`NNNNNN.log`) in `store_dir`.
fn write_ahead_log_bytes(store_dir: &Path) -> io::Result<u64> {
    let mut bytes = 0u64;
    for entry in std::fs::read_dir(store_dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().ends_with(".log") {
            bytes = bytes.saturating_add(entry.metadata()?.len());
        }
    }
    Ok(bytes)
}

/// Executes this process's binary again with its arguments and environment
/// (and [`LISTEN_VARIABLE`]); returns only if that failed.
fn restart_in_place(listening_on: SocketAddr) -> io::Error {
    // /proc/self/exe is the binary this process runs even if a newer one
    // replaced its path since: the node restarts as the same version.
    let binary = if Path::new("/proc/self/exe").exists() {
        PathBuf::from("/proc/self/exe")
    } else {
        match std::env::current_exe() {
            Ok(path) => path,
            Err(error) => return error,
        }
    };
    let mut arguments = std::env::args_os();
    let name = arguments
        .next()
        .unwrap_or_else(|| OsString::from("tansiq-node"));
    // A line half written to stdout would be lost with this process image.
    let _ = io::stdout().flush();
    Command::new(binary)
        .arg0(name)
        .args(arguments)
        .env(LISTEN_VARIABLE, listening_on.to_string())
        .exec()
}

/// A storage failure as the node passes it on (to every client waiting on
/// the failed write, and to `crate::recovery`): its fault, classified once
/// where the error was seen, and its text, for people only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageFailure {
    /// What kind of failure: what the node and its clients do about it.
    pub fault: StorageFault,
    /// The error's text, for logs and for the client's message.
    pub message: String,
}

impl StorageFailure {
    /// A failure of `fault`, described by `message`.
    pub fn new(fault: StorageFault, message: impl Into<String>) -> StorageFailure {
        StorageFailure {
            fault,
            message: message.into(),
        }
    }

    /// The failure of the store.
    pub fn of_store(error: &StoreError) -> StorageFailure {
        StorageFailure::new(error.fault(), error.to_string())
    }

    /// The failure that stopped a cluster member's Raft core. openraft keeps
    /// the storage error only as text (see
    /// [`StorageFault::of_openraft_text`]): its fault is read from there.
    pub fn of_stopped_raft(fatal: &Fatal<NodeId>) -> StorageFailure {
        let message = fatal.to_string();
        StorageFailure::new(StorageFault::of_openraft_text(&message), message)
    }
}

impl std::fmt::Display for StorageFailure {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restart_keeps_the_port_only_of_a_node_started_on_port_0() {
        let address = |text: &str| text.parse::<SocketAddr>().expect("an address");
        let kept = Some("127.0.0.1:40123");
        assert_eq!(
            kept_address(address("127.0.0.1:0"), None),
            address("127.0.0.1:0")
        );
        assert_eq!(
            kept_address(address("127.0.0.1:0"), kept),
            address("127.0.0.1:40123")
        );
        assert_eq!(
            kept_address(address("127.0.0.1:50051"), kept),
            address("127.0.0.1:50051")
        );
        assert_eq!(kept_address(address("[::1]:0"), kept), address("[::1]:0"));
        assert_eq!(
            kept_address(address("127.0.0.1:0"), Some("nonsense")),
            address("127.0.0.1:0")
        );
    }

    #[test]
    fn a_writable_directory_with_room_passes_the_probe_and_keeps_no_probe_file() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        match probe(dir.path()) {
            // A machine whose /tmp is nearly full, or a tight open-file limit.
            Err(NotYet::Space { .. } | NotYet::FileDescriptors { .. }) => {}
            other => assert!(other.is_ok(), "{other:?}"),
        }
        assert!(!dir.path().join(PROBE_FILE).exists());
    }

    #[test]
    fn a_directory_that_is_not_there_fails_the_probe() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let missing = dir.path().join("missing");
        let not_yet = probe(&missing).expect_err("no such directory");
        assert!(
            matches!(not_yet, NotYet::Io { .. } | NotYet::FileDescriptors { .. }),
            "{not_yet}"
        );
    }

    #[test]
    fn only_errors_that_reopening_clears_start_the_watcher() {
        let recovery = Arc::new(Recovery {
            ledger: Weak::new(),
            store_dir: PathBuf::from("/nonexistent"),
            listening_on: "127.0.0.1:1".parse().expect("an address"),
            watching: AtomicBool::new(false),
            raft_core_stopped: AtomicBool::new(false),
        });
        let corrupt =
            StorageFailure::new(StorageFault::Corruption, "RocksDB: Corruption: bad block");
        assert!(!recovery.storage_failed(&corrupt, Stopped::Store));
        let other = StorageFailure::new(StorageFault::Other, "RocksDB: IO error: busy");
        assert!(!recovery.storage_failed(&other, Stopped::Store));
        let stopped_raft = StorageFailure::new(
            StorageFault::of_openraft_text("storage error: stored data is corrupt: raft log key"),
            "storage error: stored data is corrupt: raft log key",
        );
        assert!(!recovery.storage_failed(&stopped_raft, Stopped::RaftCore));
        assert!(!recovery.watching.load(Ordering::SeqCst));
        // The fault decides, not the text. The watcher started ends at its
        // first probe: there is no ledger.
        let io = StorageFailure::new(StorageFault::Io, "no I/O error said here");
        assert!(recovery.storage_failed(&io, Stopped::Store));
        assert!(recovery.watching.load(Ordering::SeqCst));
    }
}
