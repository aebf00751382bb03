//! C2SP tlog-tiles: tile coordinates and public paths, the hashes a tile holds, and entry
//! bundles.
//!
//! A level-L tile holds level-L hashes, each the Merkle tree hash of 256^L consecutive leaves;
//! level 0 holds leaf hashes and a level-(L+1) hash is the root of a full level-L tile. Every
//! perfect subtree of height h is therefore one node inside the level-(h / 8) tile that holds
//! its leftmost level-(h / 8) hash ([`locate`]), which is how the engine serves proofs from
//! tiles alone.

use crate::tlog::proof::Subtree;

/// log2 of the number of hashes in a full tile.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes in a full tile, and entries in a full entry bundle.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;

/// Levels a tile path may name (C2SP: 0–63).
const MAX_LEVEL: u8 = 63;
const HASHES_PER_TILE: usize = TILE_WIDTH as usize;

mod bundle;
mod path;
mod tree;

pub use bundle::{MAX_ENTRY_LEN, bundle_prefix, push_entry, split_entries};
pub use path::TilePath;
pub use tree::TileTree;

/// A hash tile: level L holds level-L hashes, each the MTH of 256^L leaves; tile N holds hashes
/// [256N, 256N+256).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    /// Which level of hashes the tile holds.
    pub level: u8,
    /// Position of the tile within its level.
    pub index: u64,
}

/// How many hashes a tile at this coordinate holds in a tree of `size`: 0 if none, 256 if
/// full, otherwise the width of the partial tile at the right edge.
pub fn tile_width(id: TileId, size: u64) -> u64 {
    // Level-L hashes exist only for complete groups of 256^L leaves.
    let available = size
        .checked_shr(u32::from(id.level) * u32::from(TILE_HEIGHT))
        .unwrap_or(0);
    match id.index.checked_mul(TILE_WIDTH) {
        Some(first) => available.saturating_sub(first).min(TILE_WIDTH),
        // The tile starts beyond any u64 count of hashes.
        None => 0,
    }
}

/// How many entries entry bundle `bundle_index` holds in a tree of `size`: 0 if none, 256 if
/// full.
pub fn entries_width(bundle_index: u64, size: u64) -> u64 {
    tile_width(
        TileId {
            level: 0,
            index: bundle_index,
        },
        size,
    )
}

/// Where a perfect subtree's hash lives: level = height / 8, the tile holding its
/// 2^(height % 8) level-L hashes, and (local_height = height % 8, local_index) inside that
/// tile's node tree (see [`TileTree::node`]).
///
/// A subtree whose height is a multiple of 8 is located as a hash of its own level's tile
/// (local height 0), not as the root of a full tile one level down: the partial tile at the
/// right edge of a level holds it as soon as it exists.
pub fn locate(s: Subtree) -> (TileId, u8, u64) {
    let level = s.height / TILE_HEIGHT;
    let local_height = s.height % TILE_HEIGHT;
    // A tile's node tree has 2^(8 - local_height) nodes of this local height; 1 ≤ shift ≤ 8.
    let shift = TILE_HEIGHT - local_height;
    let id = TileId {
        level,
        index: s.index >> shift,
    };
    (id, local_height, s.index & ((1 << shift) - 1))
}

#[cfg(test)]
mod tests;
