//! Storage failures, and which of them a reopen of the store clears.

/// Storage failures. These are the node's problem, not the client's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// RocksDB failed (an I/O error, a full disk, corruption it found).
    #[error("RocksDB: {0}")]
    Rocks(#[from] rocksdb::Error),
    /// A stored record does not decode; says which.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A read overlapped the installation of a snapshot (see `Ledger::read`).
    #[error("this node is installing a snapshot of the ledger from the leader")]
    StateBeingReplaced,
}

/// Whether a storage error's text says the file system is full (ENOSPC):
/// RocksDB reports it as an IO error carrying the operating system's text.
/// After a failed write RocksDB refuses writes until there is space again:
/// it then recovers by itself, or is reopened.
pub fn is_disk_full(message: &str) -> bool {
    message.contains("No space left on device")
}

/// Whether a storage error's text is one that reopening the store clears
/// once its cause is gone: an I/O error (RocksDB's "IO error", or the
/// operating system's text for a full disk, no file descriptor left, a
/// permission). After a failed write RocksDB refuses every later write until
/// it is reopened, and the `rocksdb` crate has no `DB::Resume`. Corruption
/// is not such an error: reopening finds it again.
pub fn reopen_clears(message: &str) -> bool {
    const CLEARED_BY_REOPENING: [&str; 4] = [
        "IO error",
        "No space left on device",
        "Too many open files",
        "Permission denied",
    ];
    CLEARED_BY_REOPENING
        .iter()
        .any(|text| message.contains(text))
        && !message.contains("Corruption")
        && !message.contains("corrupt")
}

impl StoreError {
    /// The file system is full (see [`is_disk_full`]).
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StoreError::Rocks(_)) && is_disk_full(&self.to_string())
    }

    /// An I/O error that reopening the store clears (see [`reopen_clears`]).
    pub fn reopen_clears(&self) -> bool {
        matches!(self, StoreError::Rocks(_)) && reopen_clears(&self.to_string())
    }
}

#[cfg(test)]
mod error_tests {
    use super::{is_disk_full, reopen_clears};

    #[test]
    fn io_errors_are_cleared_by_reopening_and_corruption_is_not() {
        let cleared = [
            "RocksDB: IO error: No space left on device: While appending to file: 000012.log: No space left on device",
            "RocksDB: IO error: While open a file for appending: 000123.log: Too many open files",
            "RocksDB: IO error: While opening a file for sequentially reading: CURRENT: Permission denied",
            "storage error: when Write Logs: No space left on device (os error 28)",
        ];
        for message in cleared {
            assert!(reopen_clears(message), "{message}");
        }
        assert!(is_disk_full(cleared[0]) && !is_disk_full(cleared[1]));
        let kept = [
            "RocksDB: Corruption: block checksum mismatch",
            "stored data is corrupt: raft log key",
            "RocksDB: Invalid argument: Column family not found",
            "this node is installing a snapshot of the ledger from the leader",
        ];
        for message in kept {
            assert!(!reopen_clears(message), "{message}");
        }
    }
}
