//! Storage failures, and what kind of failure each is: classified once,
//! from RocksDB's error, into a [`StorageFault`] that the node carries and
//! matches on (whether reopening the store clears it, whether the disk is
//! full) instead of reading error text.

use rocksdb::ErrorKind;

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
    /// A column family this store does not have was named.
    #[error(
        "no column family {0:?} in a Tansiq store; there are: {families}",
        families = super::cf::all().collect::<Vec<_>>().join(", ")
    )]
    NoSuchFamily(String),
    /// A write to a store opened to be read in the format it was found in
    /// (`tansiq-node backup` of an older store).
    #[error("this store is read as it was found, in store format {format}, and left unchanged (tansiq-node backup opens it so): nothing is written to it; start tansiq-node on it to upgrade it and write")]
    LeftAsFound {
        /// The format it was found in.
        format: u32,
    },
}

impl StoreError {
    /// What kind of storage failure this is (see [`StorageFault`]).
    pub fn fault(&self) -> StorageFault {
        match self {
            StoreError::Rocks(error) => StorageFault::of_rocksdb(error),
            StoreError::Corrupt(_) => StorageFault::Corruption,
            StoreError::StateBeingReplaced
            | StoreError::NoSuchFamily(_)
            | StoreError::LeftAsFound { .. } => StorageFault::Other,
        }
    }
}

/// What kind of storage failure this is, decided once from RocksDB's error
/// ([`StorageFault::of_rocksdb`], through [`StoreError::fault`]).
///
/// After a failed write RocksDB refuses every later write until it is
/// reopened (it recovers by itself only from a full disk, once there is
/// space), and the `rocksdb` crate has no `DB::Resume`: see
/// [`StorageFault::reopen_clears`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageFault {
    /// The file system is full (ENOSPC): an I/O error that reopening the
    /// store clears once there is space again.
    DiskFull,
    /// Any other I/O error (no file descriptor left, a permission, a failing
    /// device): reopening the store clears it once its cause is gone.
    Io,
    /// The stored data is corrupt (RocksDB found it, or a record does not
    /// decode): reopening the store finds it again.
    Corruption,
    /// Anything else (an invalid argument, a busy or shutting-down store, a
    /// read that overlapped a snapshot installation): reopening does not
    /// help.
    Other,
}

/// How the error of a received snapshot refused for what is in it begins
/// (damaged, forged, misnamed): see [`StorageFault::of_openraft_text`].
pub const SNAPSHOT_REFUSED: &str = "refused a received snapshot";

/// The operating system's text for ENOSPC, which RocksDB puts in the
/// message of its IO error (its status sub-code `kNoSpace` too).
const NO_SPACE: &str = "No space left on device";

impl StorageFault {
    /// The one classifier of RocksDB's errors: by their kind, and for an
    /// I/O error whether the disk is full.
    pub fn of_rocksdb(error: &rocksdb::Error) -> StorageFault {
        classify(error.kind(), error.as_ref())
    }

    /// The fault of an operating system's I/O error on this node's own
    /// files (a state file written, a store's directory made): a full disk,
    /// or another I/O error that goes once its cause does.
    pub fn of_io(error: &std::io::Error) -> StorageFault {
        if error.kind() == std::io::ErrorKind::StorageFull {
            StorageFault::DiskFull
        } else {
            StorageFault::Io
        }
    }

    /// Whether reopening the store clears this failure once its cause is
    /// gone: an I/O error, a full disk included.
    pub fn reopen_clears(self) -> bool {
        match self {
            StorageFault::DiskFull | StorageFault::Io => true,
            StorageFault::Corruption | StorageFault::Other => false,
        }
    }

    /// Words that [`StorageFault::of_openraft_text`] reads as this fault:
    /// put them in the text of an error that openraft will keep only as
    /// text, so that the fault is written and read back in one place.
    pub fn words(self) -> &'static str {
        match self {
            StorageFault::DiskFull => NO_SPACE,
            StorageFault::Io => "IO error",
            StorageFault::Corruption => "Corruption",
            StorageFault::Other => "storage failure",
        }
    }

    /// The fault of a storage failure known only by its text: the error of
    /// a cluster member whose Raft core stopped. openraft turns the storage
    /// error (a [`StoreError`], or a `std::io::Error` of a snapshot file)
    /// into its `StorageError`, whose source is an `AnyError` that keeps the
    /// error's type name, text and backtrace as strings only: nothing typed
    /// survives. Use it for that text only; wherever the error itself is at
    /// hand, use [`StoreError::fault`].
    ///
    /// The text holds the [`StoreError`]'s (RocksDB's "IO error" or
    /// "Corruption", "stored data is corrupt") or the operating system's
    /// (a full disk, no file descriptor left, a permission).
    ///
    /// A snapshot refused for what is in it ([`SNAPSHOT_REFUSED`]) is no
    /// fault of this node's storage, whatever its text quotes: the leader
    /// chose the snapshot's name and its events' fields.
    pub fn of_openraft_text(text: &str) -> StorageFault {
        const IO: [&str; 3] = ["IO error", "Too many open files", "Permission denied"];
        if text.contains(SNAPSHOT_REFUSED) {
            StorageFault::Other
        } else if text.contains("Corruption") || text.contains("corrupt") {
            StorageFault::Corruption
        } else if text.contains(NO_SPACE) {
            StorageFault::DiskFull
        } else if IO.iter().any(|io| text.contains(io)) {
            StorageFault::Io
        } else {
            StorageFault::Other
        }
    }
}

/// [`StorageFault::of_rocksdb`] on the parts of RocksDB's error.
fn classify(kind: ErrorKind, message: &str) -> StorageFault {
    match kind {
        // RocksDB's C API gives the status code (which `kind` reads) but
        // not its sub-code (`kNoSpace`), nor the operating system's errno:
        // whether an I/O error is a full disk is only in its text. The other
        // causes (no file descriptor left, a permission, the device) are
        // I/O errors alike, which reopening clears.
        ErrorKind::IOError if message.contains(NO_SPACE) => StorageFault::DiskFull,
        ErrorKind::IOError => StorageFault::Io,
        ErrorKind::Corruption => StorageFault::Corruption,
        _ => StorageFault::Other,
    }
}

#[cfg(test)]
mod error_tests {
    use rocksdb::ErrorKind;

    use super::{classify, StorageFault, StoreError};

    #[test]
    fn io_errors_are_cleared_by_reopening_and_corruption_is_not() {
        let cleared = [
            (
                "IO error: No space left on device: While appending to file: 000012.log: No space left on device",
                StorageFault::DiskFull,
            ),
            (
                "IO error: While open a file for appending: 000123.log: Too many open files",
                StorageFault::Io,
            ),
            (
                "IO error: While opening a file for sequentially reading: CURRENT: Permission denied",
                StorageFault::Io,
            ),
        ];
        for (message, fault) in cleared {
            assert_eq!(classify(ErrorKind::IOError, message), fault, "{message}");
            assert!(fault.reopen_clears(), "{message}");
        }
        let kept = [
            (
                ErrorKind::Corruption,
                "Corruption: block checksum mismatch",
                StorageFault::Corruption,
            ),
            (
                ErrorKind::InvalidArgument,
                "Invalid argument: Column family not found",
                StorageFault::Other,
            ),
            (
                ErrorKind::Busy,
                "Resource busy: No space left on device",
                StorageFault::Other,
            ),
        ];
        for (kind, message, fault) in kept {
            assert_eq!(classify(kind, message), fault, "{message}");
            assert!(!fault.reopen_clears(), "{message}");
        }
        assert_eq!(
            StoreError::Corrupt("raft log key".into()).fault(),
            StorageFault::Corruption
        );
        assert_eq!(StoreError::StateBeingReplaced.fault(), StorageFault::Other);
    }

    #[test]
    fn real_rocksdb_errors_are_classified_by_their_kind() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let options = || {
            let mut options = rocksdb::Options::default();
            options.create_if_missing(true);
            options
        };
        // RocksDB cannot open its lock file: a directory is in its place.
        let locked = dir.path().join("locked");
        std::fs::create_dir_all(locked.join("LOCK")).expect("a directory");
        let error = rocksdb::DB::open(&options(), &locked).expect_err("no lock file");
        assert_eq!(error.kind(), ErrorKind::IOError, "{error}");
        assert_eq!(StoreError::from(error).fault(), StorageFault::Io);
        // A CURRENT file that is not RocksDB's.
        let damaged = dir.path().join("damaged");
        drop(rocksdb::DB::open(&options(), &damaged).expect("a new store"));
        std::fs::write(damaged.join("CURRENT"), b"MANIFEST-000001").expect("CURRENT");
        let error = rocksdb::DB::open(&options(), &damaged).expect_err("corrupt");
        assert_eq!(
            StorageFault::of_rocksdb(&error),
            StorageFault::Corruption,
            "{error}"
        );
    }

    #[test]
    fn a_stopped_raft_cores_text_says_its_fault() {
        let cases = [
            (
                "storage error: when Write Store: tansiq_ledger::store::error::StoreError: RocksDB: IO error: No space left on device: While appending to file: 000012.log: No space left on device",
                StorageFault::DiskFull,
            ),
            (
                "storage error: when Write Logs: No space left on device (os error 28)",
                StorageFault::DiskFull,
            ),
            (
                "storage error: when Write Store: RocksDB: IO error: While open a file for appending: 000123.log: Too many open files",
                StorageFault::Io,
            ),
            (
                "storage error: when Write Snapshot: Permission denied (os error 13)",
                StorageFault::Io,
            ),
            (
                "storage error: RocksDB: Corruption: block checksum mismatch",
                StorageFault::Corruption,
            ),
            (
                "storage error: stored data is corrupt: raft log key",
                StorageFault::Corruption,
            ),
            ("panicked", StorageFault::Other),
            // What a leader chose (a snapshot's name, an event's field)
            // cannot make a refused snapshot read as this node's fault.
            (
                "when Read Snapshot(Some(.. snapshot_id: \"No space left on device\" ..)): refused a received snapshot: event .. no longer applies: unknown organisation \"IO error\"",
                StorageFault::Other,
            ),
        ];
        for fault in [
            StorageFault::DiskFull,
            StorageFault::Io,
            StorageFault::Corruption,
            StorageFault::Other,
        ] {
            let text = format!("when Write Snapshot(None): {} while ..", fault.words());
            assert_eq!(StorageFault::of_openraft_text(&text), fault, "{text}");
        }
        for (text, fault) in cases {
            assert_eq!(StorageFault::of_openraft_text(text), fault, "{text}");
        }
    }
}
