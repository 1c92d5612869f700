//! Every limit in one place: of the ledger, the node and the CLI. Each is
//! enforced with an error that names it.

use std::time::Duration;

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
/// Items in a page of a listing (`Coverage.List*`) when the client names no size.
pub const LIST_PAGE_DEFAULT: usize = 100;
/// Most items in a page of a listing.
pub const LIST_PAGE_MAX: usize = 1_000;
/// Records one search request reads at most (municipalities,
/// organisations and projects together); the next page reads on.
pub const SEARCH_SCAN_MAX: usize = 20_000;
/// Longest search query, in bytes.
pub const SEARCH_QUERY_BYTES_MAX: usize = 256;
/// Longest page token a listing accepts (a token is an id or a P-code).
pub const PAGE_TOKEN_BYTES_MAX: usize = 256;
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
/// The deepest administrative level a municipality may have (0 is a whole
/// country, 1 a region, ... this).
pub const ADMIN_LEVEL_MAX: u32 = 5;
/// Most nodes named in one cluster membership change.
pub const CLUSTER_MEMBERS_MAX: usize = 64;
/// RocksDB block cache shared by all column families, in bytes.
pub const STORE_BLOCK_CACHE_BYTES: usize = 64 * 1024 * 1024;
/// RocksDB memtables of all column families together, in bytes (charged to the block cache).
pub const STORE_WRITE_BUFFER_BYTES: usize = 64 * 1024 * 1024;
/// One column family's memtable, in bytes, before it is written to a table file.
pub const STORE_MEMTABLE_BYTES: usize = 16 * 1024 * 1024;
/// The blocks a memtable allocates its memory in, in bytes. A memtable
/// takes one when it is created (its filter is allocated there), and the
/// memtable budget counts every block whole: with RocksDB's default (an
/// eighth of the memtable, at most 1 MiB) the 18 families of an empty
/// store held 21.2 MB of the 64 MiB budget, with this size 3.4 MB.
pub const STORE_MEMTABLE_ARENA_BLOCK_BYTES: usize = 128 * 1024;
/// Overlaps named one by one in a receipt's warnings; the rest are counted.
pub const RECEIPT_OVERLAP_WARNINGS_MAX: usize = 10;
/// Values of each in-memory map (`bounded_map.rs`): records of each registry
/// (keys, organisations, projects) a ledger keeps between commit groups, and
/// signers' keys as curve points.
pub const REMEMBERED_RECORDS_MAX: usize = 50_000;
/// Bytes of the lists of projects by place the writer keeps for the
/// overlap check (`append/places.rs`), all places together, counted as
/// each project's id, owner, titles and donor plus its fixed part, and
/// each list's keys: about 250 bytes a project with short titles, up to
/// about 1.3 KB with the longest.
pub const PLACE_LISTS_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Past days whose counts (open overlaps and uncovered needs per cell) a
/// node keeps once asked, so that the pages of an as-of view count once
/// (`coverage::PastTallies`); each holds what the counts of now hold.
pub const PAST_DAYS_COUNTED_MAX: usize = 4;
/// What the counts of those past days take together at most (about:
/// `Tally::counted_bytes`); a day whose counts alone take more is not
/// kept. About 3.3-4.4 MB a day at a million bench events, 17 MB at five
/// million: so, by arithmetic (room for a day is made before it is
/// counted), all four days at 1M and three at 5M; bench/README.md has the
/// node's memory with them (measured), not a count of the days kept.
pub const PAST_COUNTS_BYTES_MAX: usize = 64 * 1024 * 1024;
/// A donor site's outbox holds at most this many bytes of signed events
/// waiting for the leader; past it the node answers RESOURCE_EXHAUSTED.
pub const OUTBOX_BYTES_MAX: u64 = 256 * 1024 * 1024;
/// One signing key's share of the outbox at most: one busy (or hostile)
/// signer cannot fill it for the others.
pub const OUTBOX_BYTES_PER_KEY_MAX: u64 = 32 * 1024 * 1024;

// Requests and answers

/// Supports one WhoSupports answer names at most: about what fits in the
/// largest answer a node sends ([`REQUEST_BYTES_MAX`], at the 420 bytes a
/// support takes with ordinary titles), so that an answer is bounded
/// before it is read whole (a whole country of a million events was read
/// into 530 MiB, then refused as too large to send). Past it the node says
/// to narrow the question, or to page with ListProjects.
pub const WHO_SUPPORTS_MAX: usize = 40_000;
/// Places (registered municipalities and regions under the asked P-code,
/// itself included) one Matrix answer covers at most: a cell per place
/// and sector category with support (about 110 bytes with a few donors,
/// 50 categories at most), so that an answer stays under the largest a
/// node sends ([`REQUEST_BYTES_MAX`]). Counted before anything is
/// computed: past it the node refuses and says to ask per region (the
/// whole of a 50,000-municipality ledger took a node to 700 MiB and 112 s,
/// then failed to send 50 MB). The console's CSV download, like the
/// CLI's export, asks within it; its map reads only each place's donors
/// (`Coverage::donors_by_place`).
pub const MATRIX_PLACES_MAX: usize = 2_000;
/// Overlapping pairs one Overlaps answer names at most (two projects
/// each, about 1 KiB): a request for all of them (limit 0) or for more is
/// refused when more match, saying how many; held pairs come first in
/// any smaller page.
pub const OVERLAPS_ANSWER_MAX: usize = 10_000;
/// Largest gRPC request the node decodes (a full SubmitBatch of typical events fits).
pub const REQUEST_BYTES_MAX: usize = 16 * 1024 * 1024;
/// The largest Ledger answer this client reads: what a node sends at most
/// (also its `REQUEST_BYTES_MAX`).
pub const CLIENT_LEDGER_ANSWER_BYTES_MAX: usize = 16 * 1024 * 1024;
/// The largest Coverage answer this client reads: a matrix, a gap list or
/// an export's rows come as one message.
pub const CLIENT_COVERAGE_ANSWER_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Commit latencies kept for the percentiles GetStatus reports.
pub const COMMIT_LATENCY_WINDOW: usize = 1024;

// Replication between members

/// Submissions waiting for the proposer beyond this make submitters wait.
pub const PROPOSAL_QUEUE_MAX: usize = 8_192;
/// Events per Raft entry at most (a batch is whatever arrived meanwhile).
pub const PROPOSAL_EVENTS_MAX: usize = 4_096;
/// Events a leader remembers having verified before proposing them, so
/// that it does not verify them again when it applies them (see
/// `event::VerifiedHere`): four entries' worth. A pair is 96 bytes, so
/// the set holds about 3 MiB at most, with its hash table's slack.
pub const VERIFIED_HERE_MAX: usize = 4 * PROPOSAL_EVENTS_MAX;
/// Bytes of signed events per Raft entry at most: a batch stops growing
/// before it would pass this (one request, at most
/// [`REQUEST_BYTES_MAX`], always fits).
pub const PROPOSAL_BYTES_MAX: usize = REQUEST_BYTES_MAX;
/// How long a submission waits for its entry to commit before the client is
/// told it is not committed (e.g. a leader cut off from the majority).
pub const PROPOSAL_DECISION_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a cluster member asked for its checkpoint of a tree size it
/// has not applied yet waits for it (the asker waits a second longer).
pub const COSIGN_WAIT: Duration = Duration::from_secs(2);
/// How often a node makes a new checkpoint while its log grows (and on
/// request in between).
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);
/// How long a node that has just formed a cluster waits for its first
/// leader before it writes the formation's authorisation to the ledger.
pub const FIRST_LEADER_WAIT: Duration = Duration::from_secs(20);
/// Entries per AppendEntries message at most (openraft's default is 300).
/// With [`PROPOSAL_BYTES_MAX`] this bounds every Raft message a node sends,
/// so that [`CLUSTER_MESSAGE_BYTES_MAX`] never refuses an honest leader.
pub const APPEND_ENTRIES_MAX: u64 = 16;
/// Largest snapshot chunk a node sends (`--snapshot-chunk-bytes` at most).
pub const SNAPSHOT_CHUNK_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// Largest Cluster message a node decodes or sends: a full AppendEntries
/// (entries of at most [`PROPOSAL_BYTES_MAX`] plus their framing), or a
/// snapshot chunk. Only a voter's certificate may send messages this large
/// (the gate refuses everyone else before reading a byte).
pub const CLUSTER_MESSAGE_BYTES_MAX: usize =
    (APPEND_ENTRIES_MAX as usize + 1) * (PROPOSAL_BYTES_MAX + 64 * 1024);
/// How long a linearizable read waits for the leader and for its own apply.
pub const READ_BARRIER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the leader waits for each segment of a snapshot it sends, the
/// last one included, which the receiver answers only once it checked and
/// installed the whole snapshot: it replays every event of the snapshot,
/// every signature checked again (Ledger::check_snapshot; tens of seconds
/// per million events on two cores). openraft's default, 200 ms, made the
/// leader give up and send the snapshot again, over and over. The cost of a
/// long one: a peer whose network silently drops packets in the middle of
/// a transfer holds up that peer's replication for up to this long before
/// the leader retries (a peer that is down refuses the connection at once).
pub const SNAPSHOT_SEGMENT_TIMEOUT: Duration = Duration::from_secs(600);

// IATI interchange

/// Chunks in flight between the gRPC stream and the reader.
pub const PLAN_CHUNKS_IN_FLIGHT: usize = 16;
/// Activities planned per read of the ledger.
pub const PLAN_BATCH_ACTIVITIES: usize = 256;
/// Activities one plan covers at most.
pub const PLAN_ACTIVITIES_MAX: u64 = 100_000;
/// Plans computed at once on a node; more wait.
pub const PLANS_AT_ONCE: usize = 2;
/// A plan whose next chunk does not arrive within this is ended.
pub const PLAN_CHUNK_WAIT: Duration = Duration::from_secs(30);
/// How far a plan request's signing time may be from the node's clock.
pub const PLAN_SIGNATURE_AGE_MAX_MS: i64 = 10 * 60 * 1000;
/// Bytes per chunk of an exported file.
pub const EXPORT_CHUNK_BYTES: usize = 1024 * 1024;
/// The longest stretch of bytes without a '<' the reader accepts.
pub const IATI_TEXT_RUN_MAX: usize = 8 * 1024 * 1024;

// Storage

/// The state's column families are replaced in write batches of about this
/// size: installing a snapshot holds this much of it in memory, whatever the
/// size of the ledger.
pub const REPLACE_BATCH_BYTES: usize = 4 << 20;

/// A state file being written (a snapshot, a checked snapshot, a restore's
/// replayed state) is synced after each this many bytes, not only at its
/// end (see `store::snapshot_file::SyncedAsItGrows`).
pub const SNAPSHOT_SYNC_BYTES: usize = 8 << 20;

// The CLI

/// Signatures checked per batch: batch verification costs less per
/// signature, and the batch bounds what is held before it is checked.
pub const CLI_VERIFY_BATCH: usize = 1024;
