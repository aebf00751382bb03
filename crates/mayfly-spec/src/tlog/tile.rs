//! C2SP tlog-tiles: tile coordinates and public paths, the hashes a tile holds, and entry
//! bundles.
//!
//! A level-L tile holds level-L hashes, each the Merkle tree hash of 256^L consecutive leaves;
//! level 0 holds leaf hashes and a level-(L+1) hash is the root of a full level-L tile. Every
//! perfect subtree of height h is therefore one node inside the level-(h / 8) tile that holds
//! its leftmost level-(h / 8) hash ([`locate`]), which is how the engine serves proofs from
//! tiles alone.

use std::fmt;

use crate::tlog::proof::Subtree;
use crate::tlog::{Hash, TlogError, node_hash};

/// log2 of the number of hashes in a full tile.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes in a full tile, and entries in a full entry bundle.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;

/// Levels a tile path may name (C2SP: 0–63).
const MAX_LEVEL: u8 = 63;
const HASHES_PER_TILE: usize = TILE_WIDTH as usize;

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

/// A parsed public path below a log's prefix: "tile/<L>/<N>[.p/<W>]" or
/// "tile/entries/<N>[.p/<W>]".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TilePath {
    /// A hash tile.
    Hash {
        /// Which tile.
        id: TileId,
        /// `Some(1..=255)` for the `.p/<W>` view of a partial tile, `None` for a full tile.
        width: Option<u8>,
    },
    /// An entry bundle.
    Entries {
        /// Which bundle: bundle N holds entries [256N, 256N+256).
        index: u64,
        /// As for hash tiles.
        width: Option<u8>,
    },
}

fn path_error(what: &str) -> TlogError {
    TlogError::TilePath(what.to_owned())
}

/// Parses a decimal number of 1 to `max_digits` ASCII digits, without leading zeros.
///
/// Written out rather than via `str::parse`, which also accepts a leading `+`.
fn canonical_decimal(text: &str, max_digits: usize) -> Option<u64> {
    let bytes = text.as_bytes();
    let canonical = !bytes.is_empty()
        && bytes.len() <= max_digits
        && bytes.iter().all(u8::is_ascii_digit)
        && (bytes[0] != b'0' || bytes.len() == 1);
    canonical.then(|| bytes.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Parses one 3-digit group of a tile index.
fn index_group(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    (bytes.len() == 3 && bytes.iter().all(u8::is_ascii_digit))
        .then(|| bytes.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Parses the path elements of a tile index: "x"-prefixed 3-digit groups, then a bare one.
fn parse_index(groups: &[&str]) -> Result<u64, TlogError> {
    let Some((last, leading)) = groups.split_last() else {
        return Err(path_error("missing tile index"));
    };
    let bad = || {
        path_error("tile index must be zero-padded 3-digit groups, all but the last prefixed 'x'")
    };
    let mut n = 0u64;
    for (i, group) in leading.iter().enumerate() {
        let digits = group.strip_prefix('x').ok_or_else(bad)?;
        let value = index_group(digits).ok_or_else(bad)?;
        // A leading all-zero group would give a second spelling of the same index.
        if i == 0 && value == 0 {
            return Err(path_error("tile index has a leading zero group"));
        }
        n = n
            .checked_mul(1000)
            .and_then(|n| n.checked_add(value))
            .ok_or_else(|| path_error("tile index out of range"))?;
    }
    let value = index_group(last).ok_or_else(bad)?;
    n.checked_mul(1000)
        .and_then(|n| n.checked_add(value))
        .ok_or_else(|| path_error("tile index out of range"))
}

impl TilePath {
    /// Parses a tile or entry-bundle path, relative to the log's prefix, accepting only the
    /// canonical spelling of each coordinate so that one tile has exactly one path: level
    /// 0–63 without leading zeros, index in zero-padded 3-digit groups with all but the last
    /// prefixed `x` (1234067 → `x001/x234/067`, 5 → `005`), partial width 1–255 without
    /// leading zeros.
    pub fn parse(path: &str) -> Result<Self, TlogError> {
        let rest = path
            .strip_prefix("tile/")
            .ok_or_else(|| path_error("must start with tile/"))?;
        let parts: Vec<&str> = rest.split('/').collect();
        let Some((&kind, tail)) = parts.split_first() else {
            return Err(path_error("missing tile level"));
        };
        // ".p/<W>" hangs off the last index group, so it splits that group across two elements.
        let partial = match tail {
            [groups @ .., last, w] => last.strip_suffix(".p").map(|last| (groups, last, w)),
            _ => None,
        };
        let (groups, width) = match partial {
            Some((groups, last, w)) => {
                let width = canonical_decimal(w, 3)
                    .and_then(|w| u8::try_from(w).ok())
                    .filter(|&w| w != 0)
                    .ok_or_else(|| path_error("partial tile width must be 1-255"))?;
                let mut groups = groups.to_vec();
                groups.push(last);
                (groups, Some(width))
            }
            None => (tail.to_vec(), None),
        };
        let index = parse_index(&groups)?;
        if kind == "entries" {
            return Ok(TilePath::Entries { index, width });
        }
        let level = canonical_decimal(kind, 2)
            .and_then(|l| u8::try_from(l).ok())
            .filter(|&l| l <= MAX_LEVEL)
            .ok_or_else(|| path_error("tile level must be 0-63 or 'entries'"))?;
        Ok(TilePath::Hash {
            id: TileId { level, index },
            width,
        })
    }
}

/// Writes `n` as zero-padded 3-digit groups, all but the last prefixed `x`.
fn write_index(f: &mut fmt::Formatter<'_>, n: u64) -> fmt::Result {
    let mut groups = Vec::with_capacity(7);
    let mut rest = n;
    loop {
        groups.push(rest % 1000);
        rest /= 1000;
        if rest == 0 {
            break;
        }
    }
    let mut groups = groups.iter().rev().peekable();
    while let Some(g) = groups.next() {
        if groups.peek().is_some() {
            write!(f, "x{g:03}/")?;
        } else {
            write!(f, "{g:03}")?;
        }
    }
    Ok(())
}

impl fmt::Display for TilePath {
    /// The canonical path, which [`TilePath::parse`] maps back to the same value (for widths
    /// and levels in the ranges `parse` accepts).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (index, width) = match *self {
            TilePath::Hash { id, width } => {
                write!(f, "tile/{}/", id.level)?;
                (id.index, width)
            }
            TilePath::Entries { index, width } => {
                f.write_str("tile/entries/")?;
                (index, width)
            }
        };
        write_index(f, index)?;
        if let Some(w) = width {
            write!(f, ".p/{w}")?;
        }
        Ok(())
    }
}

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

/// Longest entry an entry bundle can hold: its length prefix is a `u16`.
pub const MAX_ENTRY_LEN: usize = u16::MAX as usize;

fn bundle_error(what: &str) -> TlogError {
    TlogError::Bundle(what.to_owned())
}

/// Appends one entry to a bundle, prefixed by its big-endian `u16` length.
pub fn push_entry(bundle: &mut Vec<u8>, entry: &[u8]) -> Result<(), TlogError> {
    let len =
        u16::try_from(entry.len()).map_err(|_| bundle_error("entry longer than 65535 bytes"))?;
    bundle.extend_from_slice(&len.to_be_bytes());
    bundle.extend_from_slice(entry);
    Ok(())
}

/// Splits the first entry off a non-empty bundle remainder.
fn next_entry(rest: &[u8]) -> Result<(&[u8], &[u8]), TlogError> {
    let [hi, lo, body @ ..] = rest else {
        return Err(bundle_error("truncated length prefix"));
    };
    body.split_at_checked(usize::from(u16::from_be_bytes([*hi, *lo])))
        .ok_or_else(|| bundle_error("truncated entry"))
}

/// The entries of a bundle, in order. Rejects a truncated prefix or entry, and more than 256
/// entries, since no tile-sized bundle holds that many.
pub fn split_entries(bundle: &[u8]) -> Result<Vec<&[u8]>, TlogError> {
    let mut entries = Vec::new();
    let mut rest = bundle;
    while !rest.is_empty() {
        if entries.len() == HASHES_PER_TILE {
            return Err(bundle_error("more than 256 entries"));
        }
        let (entry, tail) = next_entry(rest)?;
        entries.push(entry);
        rest = tail;
    }
    Ok(entries)
}

/// The bytes of the first `count` entries of a bundle: the `.p/<count>` view of a bundle.
/// Only those entries are checked; an error if the bundle holds fewer.
pub fn bundle_prefix(bundle: &[u8], count: usize) -> Result<&[u8], TlogError> {
    let mut rest = bundle;
    for _ in 0..count {
        if rest.is_empty() {
            return Err(TlogError::Bundle(format!(
                "bundle holds fewer than {count} entries"
            )));
        }
        rest = next_entry(rest)?.1;
    }
    Ok(&bundle[..bundle.len() - rest.len()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::hash::root_of;
    use crate::tlog::leaf_hash;

    fn hashes(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect()
    }

    fn hash_path(level: u8, index: u64, width: Option<u8>) -> TilePath {
        TilePath::Hash {
            id: TileId { level, index },
            width,
        }
    }

    #[test]
    fn paths_round_trip() {
        let cases = [
            ("tile/0/000", hash_path(0, 0, None)),
            ("tile/0/005", hash_path(0, 5, None)),
            ("tile/1/999", hash_path(1, 999, None)),
            ("tile/2/x001/000", hash_path(2, 1000, None)),
            ("tile/0/x001/x234/067", hash_path(0, 1_234_067, None)),
            (
                "tile/63/x001/x234/067.p/255",
                hash_path(63, 1_234_067, Some(255)),
            ),
            ("tile/0/000.p/1", hash_path(0, 0, Some(1))),
            (
                "tile/0/x018/x446/x744/x073/x709/x551/615",
                hash_path(0, u64::MAX, None),
            ),
            (
                "tile/entries/000",
                TilePath::Entries {
                    index: 0,
                    width: None,
                },
            ),
            (
                "tile/entries/x123/456.p/78",
                TilePath::Entries {
                    index: 123_456,
                    width: Some(78),
                },
            ),
        ];
        for (text, path) in cases {
            assert_eq!(TilePath::parse(text), Ok(path), "{text}");
            assert_eq!(path.to_string(), text);
        }
        for n in [0, 1, 999, 1000, 1001, 999_999, 1_000_000, u64::MAX - 1] {
            for width in [None, Some(1), Some(17), Some(255)] {
                let p = hash_path(7, n, width);
                assert_eq!(TilePath::parse(&p.to_string()), Ok(p));
            }
        }
    }

    #[test]
    fn paths_rejected() {
        for bad in [
            "",
            "tile",
            "tile/",
            "tile/0",
            "tile/0/",
            "/tile/0/000",
            "tiles/0/000",
            "tile/0/5",
            "tile/0/05",
            "tile/0/0005",
            "tile/0/x005",
            "tile/0/001/002",
            "tile/0/x000/005",
            "tile/0/x001/x002",
            "tile/0/x01/002",
            "tile/0/xx01/002",
            "tile/0/x001//002",
            "tile/0/000/",
            "tile/0/+01",
            "tile/0/-01",
            "tile/0/0a0",
            "tile/0/000.p",
            "tile/0/000.p/",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/0/000.p/01",
            "tile/0/000.p/+1",
            "tile/0/000.p/1/",
            "tile/0/000.p/1/2",
            "tile/0/000.q/1",
            "tile/0/x000.p/1",
            "tile/0/x001.p/1/000",
            "tile/64/000",
            "tile/00/000",
            "tile/01/000",
            "tile/+1/000",
            "tile/100/000",
            "tile/-1/000",
            "tile/entry/000",
            "tile/Entries/000",
            "tile/entries/5",
            "tile/entries",
            "tile/entries/000.p/0",
            "tile/0/x018/x446/x744/x073/x709/x551/616",
            "tile/0/x100/x000/x000/x000/x000/x000/x000/000",
            "tile/0/000\n",
            "tile/0/ 000",
            "tile/0/٠٠٠",
        ] {
            assert!(
                matches!(TilePath::parse(bad), Err(TlogError::TilePath(_))),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn widths_at_boundaries() {
        let t = |level, index| TileId { level, index };
        assert_eq!(tile_width(t(0, 0), 0), 0);
        assert_eq!(tile_width(t(0, 0), 1), 1);
        assert_eq!(tile_width(t(0, 0), 255), 255);
        assert_eq!(tile_width(t(0, 0), 256), 256);
        assert_eq!(tile_width(t(0, 0), 100_000), 256);
        assert_eq!(tile_width(t(0, 1), 256), 0);
        assert_eq!(tile_width(t(0, 1), 257), 1);
        assert_eq!(tile_width(t(0, 1), 512), 256);
        assert_eq!(tile_width(t(1, 0), 255), 0);
        assert_eq!(tile_width(t(1, 0), 256), 1);
        assert_eq!(tile_width(t(1, 0), 256 * 256 - 1), 255);
        assert_eq!(tile_width(t(1, 0), 256 * 256), 256);
        assert_eq!(tile_width(t(1, 1), 256 * 256 + 255), 0);
        assert_eq!(tile_width(t(1, 1), 256 * 256 + 256), 1);
        assert_eq!(tile_width(t(2, 0), 1 << 16), 1);
        assert_eq!(tile_width(t(7, 0), u64::MAX), 255);
        assert_eq!(tile_width(t(7, 1), u64::MAX), 0);
        assert_eq!(tile_width(t(6, 254), u64::MAX), 256);
        assert_eq!(tile_width(t(6, 255), u64::MAX), 255);
        assert_eq!(tile_width(t(8, 0), u64::MAX), 0);
        assert_eq!(tile_width(t(63, 0), u64::MAX), 0);
        assert_eq!(tile_width(t(255, 0), u64::MAX), 0);
        assert_eq!(tile_width(t(0, u64::MAX), u64::MAX), 0);
        assert_eq!(tile_width(t(0, u64::MAX >> 8), u64::MAX), 255);
        assert_eq!(entries_width(0, 300), 256);
        assert_eq!(entries_width(1, 300), 44);
        assert_eq!(entries_width(2, 300), 0);
    }

    #[test]
    fn locate_subtrees() {
        let s = |height, index| Subtree { height, index };
        let t = |level, index| TileId { level, index };
        assert_eq!(locate(s(0, 0)), (t(0, 0), 0, 0));
        assert_eq!(locate(s(0, 255)), (t(0, 0), 0, 255));
        assert_eq!(locate(s(0, 256)), (t(0, 1), 0, 0));
        assert_eq!(locate(s(3, 5)), (t(0, 0), 3, 5));
        assert_eq!(locate(s(3, 33)), (t(0, 1), 3, 1));
        assert_eq!(locate(s(7, 1)), (t(0, 0), 7, 1));
        assert_eq!(locate(s(7, 2)), (t(0, 1), 7, 0));
        assert_eq!(locate(s(8, 0)), (t(1, 0), 0, 0));
        assert_eq!(locate(s(8, 257)), (t(1, 1), 0, 1));
        assert_eq!(locate(s(9, 3)), (t(1, 0), 1, 3));
        assert_eq!(locate(s(16, 1)), (t(2, 0), 0, 1));
        assert_eq!(locate(s(63, 1)), (t(7, 0), 7, 1));
        assert_eq!(locate(s(0, u64::MAX)), (t(0, u64::MAX >> 8), 0, 255));
        // The located node covers exactly the subtree's leaves.
        for height in 0..24u8 {
            for index in [0u64, 1, 2, 3, 255, 256, 1000] {
                let (id, lh, li) = locate(s(height, index));
                let level_shift = 8 * u32::from(id.level);
                let first = ((id.index << 8) + (li << lh)) << level_shift;
                assert_eq!(first, s(height, index).leaves().start);
                assert_eq!(u32::from(lh) + level_shift, u32::from(height));
            }
        }
    }

    #[test]
    fn tile_tree_nodes_match_mth() {
        let hs = hashes(256);
        let id = TileId { level: 0, index: 3 };
        let mut incremental = TileTree::new(id);
        for width in 0..=256usize {
            let built = TileTree::from_hashes(id, &hs[..width]).unwrap();
            assert_eq!(incremental, built, "width {width}");
            assert_eq!(built.width(), width as u64);
            assert_eq!(built.is_full(), width == 256);
            assert_eq!(built.hashes(), &hs[..width]);
            assert_eq!(built.id(), id);
            for lh in 0..=9u8 {
                let span = 1usize << lh.min(8);
                for li in 0..=(256 / span) as u64 {
                    let start = li as usize * span;
                    let want = (lh <= 8 && start + span <= width)
                        .then(|| root_of(&hs[start..start + span]));
                    assert_eq!(built.node(lh, li), want, "width {width} node ({lh}, {li})");
                }
            }
            assert_eq!(built.root(), (width == 256).then(|| root_of(&hs)));
            if width < 256 {
                incremental.push(hs[width]).unwrap();
            }
        }
        assert!(matches!(incremental.push(hs[0]), Err(TlogError::Tile(_))));
        assert_eq!(incremental.node(0, u64::MAX), None);
    }

    #[test]
    fn tile_tree_bytes() {
        let hs = hashes(256);
        let id = TileId { level: 2, index: 9 };
        let tile = TileTree::from_hashes(id, &hs[..100]).unwrap();
        let bytes = tile.to_bytes();
        assert_eq!(bytes.len(), 100 * 32);
        assert_eq!(&bytes[32..64], hs[1].as_bytes());
        assert_eq!(TileTree::from_bytes(id, &bytes), Ok(tile.clone()));
        assert_eq!(tile.prefix_bytes(100), Some(bytes.clone()));
        assert_eq!(tile.prefix_bytes(7), Some(bytes[..7 * 32].to_vec()));
        assert_eq!(tile.prefix_bytes(0), Some(Vec::new()));
        assert_eq!(tile.prefix_bytes(101), None);
        assert_eq!(tile.prefix_bytes(u64::MAX), None);
        let full = TileTree::from_hashes(id, &hs).unwrap();
        assert_eq!(
            TileTree::from_bytes(id, &full.to_bytes()).unwrap().root(),
            Some(root_of(&hs))
        );

        let too_many: Vec<Hash> = hashes(257);
        assert!(matches!(
            TileTree::from_hashes(id, &too_many),
            Err(TlogError::Tile(_))
        ));
        assert_eq!(TileTree::from_hashes(id, &[]), Ok(TileTree::new(id)));
        for len in [0, 1, 31, 33, 100 * 32 + 1, 257 * 32] {
            let data = vec![7u8; len];
            assert!(
                matches!(TileTree::from_bytes(id, &data), Err(TlogError::Tile(_))),
                "{len} bytes accepted"
            );
        }
    }

    #[test]
    fn bundles() {
        let entries: Vec<Vec<u8>> = vec![
            b"first".to_vec(),
            Vec::new(),
            vec![0xAB; 300],
            vec![1; MAX_ENTRY_LEN],
        ];
        let mut bundle = Vec::new();
        for e in &entries {
            push_entry(&mut bundle, e).unwrap();
        }
        assert_eq!(&bundle[..7], b"\x00\x05first");
        assert_eq!(&bundle[7..9], b"\x00\x00");
        assert_eq!(&bundle[9..11], b"\x01\x2c");
        let split = split_entries(&bundle).unwrap();
        assert_eq!(split, entries.iter().map(Vec::as_slice).collect::<Vec<_>>());

        assert_eq!(bundle_prefix(&bundle, 0), Ok(&[][..]));
        assert_eq!(bundle_prefix(&bundle, 1), Ok(&bundle[..7]));
        assert_eq!(bundle_prefix(&bundle, 2), Ok(&bundle[..9]));
        assert_eq!(bundle_prefix(&bundle, 4), Ok(&bundle[..]));
        assert!(matches!(
            bundle_prefix(&bundle, 5),
            Err(TlogError::Bundle(_))
        ));
        // Only the requested entries need to be well formed.
        assert_eq!(
            bundle_prefix(b"\x00\x01a\x00\x09", 1),
            Ok(&b"\x00\x01a"[..])
        );
        assert!(bundle_prefix(b"\x00\x05abc", 1).is_err());

        assert_eq!(split_entries(&[]), Ok(vec![]));
        let too_long = vec![0; MAX_ENTRY_LEN + 1];
        let before = bundle.clone();
        assert!(matches!(
            push_entry(&mut bundle, &too_long),
            Err(TlogError::Bundle(_))
        ));
        assert_eq!(
            bundle, before,
            "a rejected entry leaves the bundle untouched"
        );

        for bad in [
            &b"\x00"[..],
            b"\x00\x05abcd",
            b"\x00\x01a\x00",
            b"\x00\x01a\x00\x02b",
            b"\xff\xff",
        ] {
            assert!(
                matches!(split_entries(bad), Err(TlogError::Bundle(_))),
                "{bad:?} accepted"
            );
        }
        let mut full = Vec::new();
        for i in 0..256u16 {
            push_entry(&mut full, &i.to_be_bytes()).unwrap();
        }
        assert_eq!(split_entries(&full).unwrap().len(), 256);
        push_entry(&mut full, b"one too many").unwrap();
        assert!(matches!(split_entries(&full), Err(TlogError::Bundle(_))));
    }
}
