//! How a store uses memory and disk: RocksDB's options (the budgets of its
//! cache and memtables, shared by every column family whatever the size of
//! the data; its filters; its background work), and what the store holds
//! against them ([`Store::sizes`], which `/metrics` gives).

use rocksdb::{ColumnFamilyDescriptor, Options};

use super::cf;
use super::db::Store;

impl Store {
    /// The options a store is opened with, and its column families'.
    pub(super) fn options() -> (Options, Vec<ColumnFamilyDescriptor>) {
        let mut options = Options::default();
        options.set_max_background_jobs(2);
        // Table files written by flushes and compactions go to disk as
        // they are written (RocksDB's advice for this setting), not in one
        // burst at their end that the write-ahead log's syncs could wait
        // behind (as for state files: `store::snapshot_file::SyncedAsItGrows`).
        options.set_bytes_per_sync(1 << 20);
        options.set_max_open_files(crate::limits::STORE_OPEN_FILES_MAX);
        // Most lookups on the append path are for keys that do not exist yet
        // (a new event id, a new project): bloom filters answer those
        // without reading data blocks.
        // Memory is bounded by these two budgets, shared by every column
        // family, whatever the size of the data.
        let cache = rocksdb::Cache::new_lru_cache(crate::limits::STORE_BLOCK_CACHE_BYTES);
        let write_buffers = rocksdb::WriteBufferManager::new_write_buffer_manager_with_cache(
            crate::limits::STORE_WRITE_BUFFER_BYTES,
            false,
            cache.clone(),
        );
        options.set_write_buffer_manager(&write_buffers);
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_block_cache(&cache);
        table.set_bloom_filter(10.0, false);
        // Each table file's index and filter live in the cache too, not
        // beside it in the file's reader, where they grow with the files
        // opened (9 MiB at a million events, 12 at five million; up to
        // 1,024 files are kept open: bench/README.md, 2026-12-04).
        // Partitioned into blocks of 4 KiB, so that a lookup loads the
        // partitions it needs, not a whole file's filter; only the top
        // level of each (an entry per partition) is held while its file is
        // open. Level 0's partitions are not held: while compactions lag,
        // level 0 holds tens of files per family, and held blocks may take
        // the cache past its budget.
        table.set_cache_index_and_filter_blocks(true);
        table.set_index_type(rocksdb::BlockBasedIndexType::TwoLevelIndexSearch);
        table.set_partition_filters(true);
        table.set_metadata_block_size(4096);
        table.set_pin_top_level_index_and_filter(true);
        let mut family = Options::default();
        family.set_block_based_table_factory(&table);
        // The budget above starts a flush once the memtables' total nears
        // it, of the family whose memtable is oldest, and writes go on
        // meanwhile: a memtable being flushed and the new ones together
        // can hold twice the budget. RocksDB's 64 MiB per family let a
        // snapshot check's scratch store hold 141 MB of memtables at
        // 200,000 events (heaptrack, bench/README.md, 2026-12-03); with
        // 16 MiB a flush is a quarter the size. (Stalling writes at the
        // budget, the write buffer manager's other mode, hung that check:
        // the flushes it starts take the oldest memtables, small ones too,
        // and a stalled write starts no other; bench/README.md.)
        family.set_write_buffer_size(crate::limits::STORE_MEMTABLE_BYTES);
        family.set_arena_block_size(crate::limits::STORE_MEMTABLE_ARENA_BLOCK_BYTES);
        // The same for the memtables: without a filter, looking up a key
        // that is not there walks the skip list (cache misses on every
        // level), and the append path does that for every new event and
        // project (a follower's profile showed it at 8% of its time).
        // The filter takes this share of a memtable's size, allocated with
        // it: 0.1 cost more than it saved (64 MiB memtables, 18 families;
        // 1,650 events/s against 2,400 in the cluster bench), 0.01 gains.
        family.set_memtable_prefix_bloom_ratio(0.01);
        family.set_memtable_whole_key_filtering(true);
        let families = cf::all()
            .map(|name| ColumnFamilyDescriptor::new(name, family.clone()))
            .collect();
        (options, families)
    }

    /// What the store holds on disk and in memory, for monitoring: bytes of
    /// live SST files, of memtables and of open table files' readers over
    /// every column family, the shared block cache's use, and whether
    /// RocksDB stopped writes (a write stall).
    pub fn sizes(&self) -> StoreSizes {
        let mut sizes = StoreSizes {
            // One cache for every family but RocksDB's default, which the
            // store never uses (`Store::options`): read once, from the log's.
            block_cache_bytes: self
                .db
                .property_int_value_cf(self.cf(cf::LOG), "rocksdb.block-cache-usage")
                .ok()
                .flatten()
                .unwrap_or(0),
            ..StoreSizes::default()
        };
        for family in self.present(cf::all()) {
            let property = |key: &str| {
                self.db
                    .property_int_value_cf(family, key)
                    .ok()
                    .flatten()
                    .unwrap_or(0)
            };
            sizes.sst_bytes += property("rocksdb.live-sst-files-size");
            sizes.memtable_bytes += property("rocksdb.cur-size-all-mem-tables");
            sizes.table_readers_bytes += property("rocksdb.estimate-table-readers-mem");
            sizes.write_stopped |= property("rocksdb.is-write-stopped") != 0;
        }
        sizes
    }
}

/// See [`Store::sizes`].
#[derive(Clone, Copy, Debug, Default)]
pub struct StoreSizes {
    /// Live SST files, bytes.
    pub sst_bytes: u64,
    /// Memtables, bytes.
    pub memtable_bytes: u64,
    /// Readers of open table files, outside the block cache (their index
    /// and filter blocks are in it), bytes, as RocksDB estimates them.
    pub table_readers_bytes: u64,
    /// The block cache in use (data, index and filter blocks; memtables
    /// are charged to it too), bytes.
    pub block_cache_bytes: u64,
    /// RocksDB stopped writes.
    pub write_stopped: bool,
}

#[cfg(test)]
mod tests {
    use rocksdb::WriteBatch;

    use super::*;

    /// A store with nothing written charges little of its memtable budget
    /// to its cache (`limits::STORE_MEMTABLE_ARENA_BLOCK_BYTES`: 3.4 MB
    /// with 128 KiB blocks, 21.2 MB with RocksDB's 1 MiB), so the budget is
    /// left to the families that are written.
    #[test]
    fn an_empty_store_charges_little_of_its_memtable_budget() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = Store::open(dir.path()).expect("a new store");
        let charged = store.sizes().block_cache_bytes;
        assert!(
            charged < 8 << 20,
            "an empty store's memtables charge {charged} bytes to its cache"
        );
    }

    /// The index and filter blocks of a store's table files are charged
    /// to its cache, not held beside it by each file's reader, so the
    /// memory a store holds does not grow with the data it keeps: the
    /// readers of 300,000 keys' table files held 430,908 bytes with their
    /// blocks beside the cache, and hold a few KB now.
    #[test]
    fn table_files_hold_their_index_and_filter_in_the_cache_not_beside_it() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = Store::open(dir.path()).expect("a new store");
        let family = store.cf(cf::EVENTS);
        for file in 0..3u64 {
            let mut batch = WriteBatch::default();
            for index in 0..100_000u64 {
                let key = *blake3::hash(&(file * 100_000 + index).to_be_bytes()).as_bytes();
                batch.put_cf(family, key, index.to_be_bytes());
            }
            store.write_synced(batch).expect("write");
            store.db.flush_cf(family).expect("flush");
        }
        // Down from level 0, as most of a ledger's files are.
        store
            .db
            .compact_range_cf(family, None::<&[u8]>, None::<&[u8]>);
        // Read through the filter and index of every file.
        for index in (0..300_000u64).step_by(997) {
            let key = *blake3::hash(&index.to_be_bytes()).as_bytes();
            assert!(store.get_cf(cf::EVENTS, &key).expect("read").is_some());
        }
        let readers = store.sizes().table_readers_bytes;
        assert!(
            readers < 32 * 1024,
            "the table files' readers hold {readers} bytes"
        );
    }
}
