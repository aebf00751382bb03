//! The hashes of one tile and every node inside it, grown one hash at a time.

use super::{HASHES_PER_TILE, TILE_HEIGHT, TileId};
use crate::tlog::{Hash, TlogError, node_hash};

/// All nodes of one tile's subtree: local heights 0..=8; level 0 = the tile's hashes.
///
/// Built by appending hashes one at a time, each push completing at most one node per local
/// height, so the sequencer can keep the right edge of the log in memory and extend it in
/// amortised O(1) hashing per pushed hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TileTree {
    id: TileId,
    /// `nodes[h][i]` is the MTH of hashes [i·2^h, (i+1)·2^h) of this tile. Invariant: each
    /// height holds exactly the nodes whose whole span has been pushed, so
    /// `nodes[h].len() == width >> h`.
    nodes: [Vec<Hash>; TILE_HEIGHT as usize + 1],
}

impl TileTree {
    /// An empty tile at this coordinate.
    pub fn new(id: TileId) -> Self {
        TileTree {
            id,
            nodes: std::array::from_fn(|_| Vec::new()),
        }
    }

    /// A tile holding these hashes, in order; more than 256 is an error.
    pub fn from_hashes(id: TileId, hashes: &[Hash]) -> Result<Self, TlogError> {
        if hashes.len() > HASHES_PER_TILE {
            return Err(TlogError::Tile(format!(
                "{} hashes do not fit in one tile",
                hashes.len()
            )));
        }
        let mut tile = TileTree::new(id);
        for h in hashes {
            tile.push(*h)?;
        }
        Ok(tile)
    }

    /// A tile from its served form: 1 to 256 concatenated 32-byte hashes.
    pub fn from_bytes(id: TileId, data: &[u8]) -> Result<Self, TlogError> {
        if data.is_empty()
            || !data.len().is_multiple_of(Hash::LEN)
            || data.len() > HASHES_PER_TILE * Hash::LEN
        {
            return Err(TlogError::Tile(format!(
                "{} bytes is not 1 to 256 whole hashes",
                data.len()
            )));
        }
        let mut tile = TileTree::new(id);
        for chunk in data.chunks_exact(Hash::LEN) {
            let h = Hash::from_slice(chunk)
                .ok_or_else(|| TlogError::Tile("hash of the wrong length".to_owned()))?;
            tile.push(h)?;
        }
        Ok(tile)
    }

    /// This tile's coordinate.
    pub fn id(&self) -> TileId {
        self.id
    }

    /// How many hashes the tile holds (0..=256).
    pub fn width(&self) -> u64 {
        self.nodes[0].len() as u64
    }

    /// Whether the tile holds all 256 hashes (and so is immutable from now on).
    pub fn is_full(&self) -> bool {
        self.nodes[0].len() == HASHES_PER_TILE
    }

    /// Appends the next hash of this tile; an error once the tile is full.
    pub fn push(&mut self, h: Hash) -> Result<(), TlogError> {
        if self.is_full() {
            return Err(TlogError::Tile("tile already holds 256 hashes".to_owned()));
        }
        self.nodes[0].push(h);
        // A node at height r + 1 completes exactly when height r gains an even count.
        for r in 0..TILE_HEIGHT as usize {
            let parent = match self.nodes[r].as_slice() {
                [.., left, right] if self.nodes[r].len().is_multiple_of(2) => {
                    node_hash(left, right)
                }
                _ => break,
            };
            self.nodes[r + 1].push(parent);
        }
        Ok(())
    }

    /// The tile's hashes, in order.
    pub fn hashes(&self) -> &[Hash] {
        &self.nodes[0]
    }

    /// The MTH of hashes [local_index · 2^local_height, (local_index + 1) · 2^local_height) of
    /// this tile; `None` unless that node's whole span is present.
    pub fn node(&self, local_height: u8, local_index: u64) -> Option<Hash> {
        let index = usize::try_from(local_index).ok()?;
        self.nodes
            .get(usize::from(local_height))?
            .get(index)
            .copied()
    }

    /// The tile's root, i.e. the level-(L+1) hash; `Some` only when the tile is full, since a
    /// partial tile is never hashed upward.
    pub fn root(&self) -> Option<Hash> {
        self.nodes[usize::from(TILE_HEIGHT)].first().copied()
    }

    /// The tile as served: width × 32 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.nodes[0].iter().flat_map(|h| h.0).collect()
    }

    /// The `.p/<width>` view: the first `width` hashes as served; `None` if the tile holds
    /// fewer.
    pub fn prefix_bytes(&self, width: u64) -> Option<Vec<u8>> {
        let width = usize::try_from(width).ok()?;
        let hashes = self.nodes[0].get(..width)?;
        Some(hashes.iter().flat_map(|h| h.0).collect())
    }
}
