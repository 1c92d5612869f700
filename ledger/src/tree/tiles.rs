//! The tree as c2sp.org/tlog-tiles: tiles of height 8, read from the
//! stored hashes, and entry bundles read from the log, addressed by the
//! spec's paths (`tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`, N in
//! groups of three digits, all but the last prefixed with `x`). A full
//! tile never changes; a partial one (`.p/W`) is the right edge of a tree.

use tlog_tiles::Tile;

use super::{entry, Reader, TreeError};
use crate::ids::LogPosition;
use crate::store::Store;

/// Levels of the tree a tile spans, as the spec fixes it.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes (or entries) in a full tile.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;
/// Longest entry an entry bundle can hold (its length is 16 bits).
pub const BUNDLE_ENTRY_BYTES_MAX: usize = u16::MAX as usize;

/// What a tile path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TilePath {
    /// `tile/<level>/<index>[.p/<width>]`: hashes.
    Hashes {
        /// Tile level (level L holds tree level 8·L).
        level: u8,
        /// Tile index at that level.
        index: u64,
        /// Hashes in it: 256 for a full tile.
        width: u64,
    },
    /// `tile/entries/<index>[.p/<width>]`: the entries themselves.
    Entries {
        /// Bundle index.
        index: u64,
        /// Entries in it: 256 for a full bundle.
        width: u64,
    },
}

impl TilePath {
    /// Parses a path after the server's root (`tile/...`).
    pub fn parse(path: &str) -> Result<TilePath, TreeError> {
        let bad = || {
            TreeError::BadPath(format!(
                "{path:?} is not a tile path: tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>] (c2sp.org/tlog-tiles)"
            ))
        };
        if path.len() > 64 {
            return Err(bad());
        }
        let mut parts: Vec<&str> = path.split('/').collect();
        if parts.len() < 3 || parts[0] != "tile" {
            return Err(bad());
        }
        let mut width = TILE_WIDTH;
        if let Some(last) = parts.last().copied() {
            if parts.len() >= 4 && parts[parts.len() - 2].ends_with(".p") {
                if !last.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                width = last.parse().map_err(|_| bad())?;
                if !(1..TILE_WIDTH).contains(&width) || last.starts_with('0') {
                    return Err(bad());
                }
                parts.pop();
                let n = parts.len() - 1;
                parts[n] = parts[n].strip_suffix(".p").ok_or_else(bad)?;
            }
        }
        let digits = &parts[2..];
        let mut index: u64 = 0;
        for (i, group) in digits.iter().enumerate() {
            let last = i == digits.len() - 1;
            let group = if last {
                *group
            } else {
                group.strip_prefix('x').ok_or_else(bad)?
            };
            if group.len() != 3 || !group.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let value: u64 = group.parse().map_err(|_| bad())?;
            index = index
                .checked_mul(1000)
                .and_then(|index| index.checked_add(value))
                .ok_or_else(bad)?;
        }
        if parts[1] == "entries" {
            return Ok(TilePath::Entries { index, width });
        }
        if parts[1].len() > 2
            || !parts[1].bytes().all(|b| b.is_ascii_digit())
            || parts[1].starts_with('0') && parts[1] != "0"
        {
            return Err(bad());
        }
        let level: u8 = parts[1].parse().map_err(|_| bad())?;
        if level > 7 {
            return Err(bad());
        }
        Ok(TilePath::Hashes {
            level,
            index,
            width,
        })
    }

    /// The tile's path, as [`TilePath::parse`] reads it.
    pub fn path(&self) -> String {
        let (kind, index, width) = match *self {
            TilePath::Hashes {
                level,
                index,
                width,
            } => (level.to_string(), index, width),
            TilePath::Entries { index, width } => ("entries".to_owned(), index, width),
        };
        let mut n = index;
        let mut digits = format!("{:03}", n % 1000);
        while n >= 1000 {
            n /= 1000;
            digits = format!("x{:03}/{digits}", n % 1000);
        }
        if width == TILE_WIDTH {
            format!("tile/{kind}/{digits}")
        } else {
            format!("tile/{kind}/{digits}.p/{width}")
        }
    }

    /// Whether the tile never changes once it exists.
    pub fn is_full(&self) -> bool {
        match self {
            TilePath::Hashes { width, .. } | TilePath::Entries { width, .. } => {
                *width == TILE_WIDTH
            }
        }
    }
}

impl Store {
    /// The tile's bytes: its hashes one after the other, or its entries
    /// each after its length (16 bits, big-endian). OUT_OF_RANGE when the
    /// tree does not (yet) hold the tile.
    pub fn tile(&self, tile: TilePath) -> Result<Vec<u8>, TreeError> {
        let size = self.tree_size()?;
        let (level, index, width) = match tile {
            TilePath::Hashes {
                level,
                index,
                width,
            } => (level, index, width),
            TilePath::Entries { index, width } => (0, index, width),
        };
        let at_level = size >> (u32::from(level) * u32::from(TILE_HEIGHT));
        let end = index
            .checked_mul(TILE_WIDTH)
            .and_then(|start| start.checked_add(width))
            .filter(|end| *end <= at_level)
            .ok_or_else(|| {
                TreeError::OutOfRange(format!("the tree of {size} entries has no such tile (yet)"))
            })?;
        let start = end - width;
        match tile {
            TilePath::Hashes { .. } => {
                let none = Default::default();
                let reader = Reader::new(self, &none);
                let width =
                    u32::try_from(width).map_err(|_| TreeError::OutOfRange("tile width".into()))?;
                Tile::new(TILE_HEIGHT, level, index, width, false)
                    .read_data(&reader)
                    .map_err(|error| reader.error(error, "a tile"))
            }
            TilePath::Entries { .. } => {
                let (records, envelopes) =
                    self.log_range_with_events(LogPosition(start + 1), width as usize)?;
                let mut bundle = Vec::new();
                for (record, envelope) in records.iter().zip(envelopes) {
                    let bytes = entry(&envelope);
                    let length = u16::try_from(bytes.len()).map_err(|_| {
                        TreeError::TooLarge(format!(
                            "entry {} is {} bytes; an entry bundle holds entries of at most {BUNDLE_ENTRY_BYTES_MAX}: fetch it with GetEvent",
                            record.position.0 - 1,
                            bytes.len()
                        ))
                    })?;
                    bundle.extend_from_slice(&length.to_be_bytes());
                    bundle.extend_from_slice(&bytes);
                }
                Ok(bundle)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_paths_are_the_specs() {
        assert_eq!(
            TilePath::parse("tile/0/000").unwrap(),
            TilePath::Hashes {
                level: 0,
                index: 0,
                width: 256
            }
        );
        assert_eq!(
            TilePath::parse("tile/1/x001/x234/067.p/8").unwrap(),
            TilePath::Hashes {
                level: 1,
                index: 1_234_067,
                width: 8
            }
        );
        assert_eq!(
            TilePath::parse("tile/entries/x001/002").unwrap(),
            TilePath::Entries {
                index: 1002,
                width: 256
            }
        );
        assert!(!TilePath::parse("tile/entries/005.p/3").unwrap().is_full());
        for path in [
            "tile/0/000",
            "tile/1/x001/x234/067.p/8",
            "tile/entries/x001/002",
            "tile/entries/005.p/3",
        ] {
            assert_eq!(TilePath::parse(path).unwrap().path(), path);
        }
        for bad in [
            "tile/0/1",
            "tile/0/0001",
            "tile/0/x1/000",
            "tile/0/001/002",
            "tile/8/000",
            "tile/00/000",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/0/000.p/07",
            "tile/x/000",
            "tiles/0/000",
            "tile/0/-01",
            "tile/+1/000",
            "tile/0/000.p/+5",
            "tile/0/x999/x999/x999/x999/x999/x999/x999/999",
        ] {
            assert!(TilePath::parse(bad).is_err(), "{bad}");
        }
    }
}
