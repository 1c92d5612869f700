//! Every limit of the ledger in one place. Each is enforced with an error that names it.

/// Largest accepted signed event (body + signature), in bytes.
pub const EVENT_SIZE_MAX: usize = 64 * 1024;
/// Most events in one `SubmitBatch` request.
pub const SUBMIT_BATCH_EVENTS_MAX: usize = 1_000;
/// Most events the committer puts in one RocksDB write batch (one fdatasync).
pub const COMMIT_GROUP_EVENTS_MAX: usize = 4_096;
/// Submissions waiting for the committer before new ones are pushed back.
pub const COMMIT_QUEUE_REQUESTS_MAX: usize = 8_192;
/// Log entries read from storage per page when serving a subscription.
pub const SUBSCRIBE_PAGE_ENTRIES: usize = 128;
/// Entries buffered per subscriber before the server waits for the client:
/// a subscriber that does not read holds at most this many (and a page)
/// and is caught up from the store once it reads again.
pub const SUBSCRIBE_BUFFER_ENTRIES: usize = 64;
/// Table files RocksDB keeps open at most (the rest are opened on demand):
/// with the node's connections, this bounds the file descriptors it needs.
pub const STORE_OPEN_FILES_MAX: i32 = 1_024;
/// Longest free-text field (notes, descriptions, sources), in bytes.
pub const TEXT_FIELD_BYTES_MAX: usize = 8 * 1024;
/// Longest name or title, in bytes.
pub const NAME_BYTES_MAX: usize = 512;
/// Most entries in any repeated field of a body (keys, locations, sectors, participants).
pub const REPEATED_FIELD_ENTRIES_MAX: usize = 256;
/// RocksDB block cache shared by all column families, in bytes.
pub const STORE_BLOCK_CACHE_BYTES: usize = 64 * 1024 * 1024;
/// RocksDB memtables of all column families together, in bytes (charged to the block cache).
pub const STORE_WRITE_BUFFER_BYTES: usize = 64 * 1024 * 1024;
/// Overlaps named one by one in a receipt's warnings; the rest are counted.
pub const RECEIPT_OVERLAP_WARNINGS_MAX: usize = 10;
/// Values of each in-memory map (`remembered.rs`): records of each registry
/// (keys, organisations, projects) a ledger keeps between commit groups, and
/// signers' keys as curve points.
pub const REMEMBERED_RECORDS_MAX: usize = 50_000;
/// A donor site's outbox holds at most this many bytes of signed events
/// waiting for the leader; past it the node answers RESOURCE_EXHAUSTED.
pub const OUTBOX_BYTES_MAX: u64 = 256 * 1024 * 1024;
/// One signing key's share of the outbox at most: one busy (or hostile)
/// signer cannot fill it for the others.
pub const OUTBOX_BYTES_PER_KEY_MAX: u64 = 32 * 1024 * 1024;
