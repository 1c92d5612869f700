//! STORE: RocksDB and nothing of the domain. Column families (their names
//! are the on-disk format), the record types, key encodings, typed batch
//! puts, state replacement from a snapshot file, and the file format. The
//! store imports nothing from `coverage`, `append` or `replication`: the
//! rules live there, and only `append` and `replication` write.

mod batch;
pub mod cf;
mod db;
mod encoding;
pub(crate) use encoding::{decode_record, Decode, EncodedProject, VersionTime};
mod error;
pub(crate) mod keys;
mod records;
mod replace;
pub mod snapshot_file;
mod tuning;

pub(crate) use db::decode_log_pair;
pub use db::{KeyValue, Store, FORMAT_VERSION};
pub use tuning::StoreSizes;

/// The store's folder in a data directory (and in a backup).
pub const STORE_DIR: &str = "db";
pub use error::{StorageFault, StoreError, SNAPSHOT_REFUSED};
pub(crate) use keys::{split_text_key, text_key};
pub use records::{
    ActivityStatus, AttestationRecord, KeyRecord, LogRecord, MunicipalityRecord, NeedRecord,
    OrgRecord, ProjectRecord, ProjectSummary, ResultRecord, ReviewRecord, Subject, Tip,
};
pub(crate) use records::{PolicyRecord, ProjectVersion};
pub(crate) use replace::{state_family, state_index};
