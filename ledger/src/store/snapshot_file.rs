//! The file format of a Raft snapshot: the ledger's state column families as
//! a stream of (family, key, value), so that building, sending and receiving
//! a snapshot does not hold the ledger in memory.
//!
//! `TANSIQ-SNAPSHOT-1\n`, then per pair: the family (u8, its index in
//! `cf::STATE`), the key's length (u32, big-endian), the key, the value's
//! length (u32, big-endian), the value; then `0xFF`, the number of pairs
//! (u64, big-endian) and the BLAKE3 hash of every byte before the hash.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

const MAGIC: &[u8] = b"TANSIQ-SNAPSHOT-1\n";
const END: u8 = 0xFF;

/// Writes pairs, then the end record with [`Writer::finish`].
pub(crate) struct Writer<W: Write> {
    out: W,
    hasher: blake3::Hasher,
    pairs: u64,
}

impl<W: Write> Writer<W> {
    pub(crate) fn new(out: W) -> io::Result<Self> {
        let mut writer = Writer {
            out,
            hasher: blake3::Hasher::new(),
            pairs: 0,
        };
        writer.write(MAGIC)?;
        Ok(writer)
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hasher.update(bytes);
        self.out.write_all(bytes)
    }

    pub(crate) fn put(&mut self, family: u8, key: &[u8], value: &[u8]) -> io::Result<()> {
        assert!(family != END, "a family index is below 0xFF");
        self.write(&[family])?;
        for part in [key, value] {
            let length = u32::try_from(part.len()).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, "a key or value over 4 GiB")
            })?;
            self.write(&length.to_be_bytes())?;
            self.write(part)?;
        }
        self.pairs += 1;
        Ok(())
    }

    /// Writes the end record; returns the output (to flush and sync).
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.write(&[END])?;
        let pairs = self.pairs.to_be_bytes();
        self.write(&pairs)?;
        let hash = self.hasher.finalize();
        self.out.write_all(hash.as_bytes())?;
        Ok(self.out)
    }
}

/// A file written to disk as it grows: synced (fdatasync) after every
/// [`SNAPSHOT_SYNC_BYTES`](crate::limits::SNAPSHOT_SYNC_BYTES) written, so
/// that the kernel never holds much of it unwritten. With one sync at the
/// end, a single voter at a million events building its snapshots left up
/// to 726 MB of dirty pages that the commit path's write-ahead-log syncs
/// could wait behind; synced as it grows, at most 59 MB
/// (`/proc/meminfo` during `bench/snapshot.sh 100 10000 500 batched`,
/// bench/README.md).
pub(crate) struct SyncedAsItGrows {
    file: File,
    unsynced: usize,
}

impl Write for SyncedAsItGrows {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.file.write(bytes)?;
        self.unsynced += written;
        if self.unsynced >= crate::limits::SNAPSHOT_SYNC_BYTES {
            self.file.sync_data()?;
            self.unsynced = 0;
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Writer<BufWriter<SyncedAsItGrows>> {
    /// A new snapshot file at `path`.
    pub(crate) fn create(path: &Path) -> io::Result<Self> {
        Writer::new(BufWriter::new(SyncedAsItGrows {
            file: File::create(path)?,
            unsynced: 0,
        }))
    }

    /// Writes the end record, then flushes and syncs the file.
    pub(crate) fn finish_file(self) -> io::Result<()> {
        let out = self
            .finish()?
            .into_inner()
            .map_err(|error| error.into_error())?;
        out.file.sync_all()
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Reads a snapshot, calling `each(family, key, value)` per pair; checks the
/// end record (count and hash) and returns the number of pairs. A snapshot
/// cut short or altered is an error, found only at its end: callers apply
/// what they were given only after this returns Ok.
pub fn read_pairs<R: Read>(
    input: R,
    mut each: impl FnMut(u8, &[u8], &[u8]) -> io::Result<()>,
) -> io::Result<u64> {
    let mut input = Hashing {
        input,
        hasher: blake3::Hasher::new(),
    };
    let mut magic = [0u8; MAGIC.len()];
    input.read_exact(&mut magic)?;
    if magic != MAGIC {
        return Err(invalid("not a Tansiq snapshot (wrong header)".into()));
    }
    let mut pairs = 0u64;
    let (mut key, mut value) = (Vec::new(), Vec::new());
    loop {
        let mut family = [0u8; 1];
        input.read_exact(&mut family)?;
        if family[0] == END {
            break;
        }
        for part in [&mut key, &mut value] {
            let mut length = [0u8; 4];
            input.read_exact(&mut length)?;
            // Grown by what arrives, not by what a damaged length claims.
            let length = u64::from(u32::from_be_bytes(length));
            part.clear();
            (&mut input).take(length).read_to_end(part)?;
            if part.len() as u64 != length {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        each(family[0], &key, &value)?;
        pairs += 1;
    }
    let mut count = [0u8; 8];
    input.read_exact(&mut count)?;
    let expected = input.hasher.finalize();
    let mut hash = [0u8; 32];
    input.input.read_exact(&mut hash)?;
    if u64::from_be_bytes(count) != pairs || hash != *expected.as_bytes() {
        return Err(invalid(format!(
            "snapshot damaged: {pairs} pairs read, the end record says {}, hash {}",
            u64::from_be_bytes(count),
            if hash == *expected.as_bytes() {
                "matches"
            } else {
                "differs"
            }
        )));
    }
    Ok(pairs)
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    input: R,
    hasher: blake3::Hasher,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.input.read(buffer)?;
        self.hasher.update(&buffer[..read]);
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut writer = Writer::new(Vec::new()).expect("write to memory");
        writer.put(0, b"genesis", b"{}").expect("write to memory");
        writer.put(3, b"", b"").expect("write to memory");
        writer
            .put(14, b"key", &[7u8; 70_000])
            .expect("write to memory");
        writer.finish().expect("write to memory")
    }

    #[test]
    fn pairs_come_back_as_written() {
        let mut read = Vec::new();
        let count = read_pairs(sample().as_slice(), |family, key, value| {
            read.push((family, key.to_vec(), value.len()));
            Ok(())
        })
        .expect("a whole snapshot reads");
        assert_eq!(count, 3);
        assert_eq!(
            read,
            vec![
                (0, b"genesis".to_vec(), 2),
                (3, Vec::new(), 0),
                (14, b"key".to_vec(), 70_000)
            ]
        );
    }

    #[test]
    fn a_cut_or_altered_snapshot_is_refused() {
        let whole = sample();
        for cut in [0, 5, MAGIC.len() + 3, whole.len() / 2, whole.len() - 1] {
            assert!(
                read_pairs(&whole[..cut], |_, _, _| Ok(())).is_err(),
                "cut at {cut}"
            );
        }
        for flipped in [
            MAGIC.len() + 1,
            whole.len() / 2,
            whole.len() - 40,
            whole.len() - 1,
        ] {
            let mut altered = whole.clone();
            altered[flipped] ^= 0x01;
            assert!(
                read_pairs(altered.as_slice(), |_, _, _| Ok(())).is_err(),
                "byte {flipped} flipped"
            );
        }
    }
}
