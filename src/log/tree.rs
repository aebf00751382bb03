//! The tree as the sequencer holds it: the right edge of every tile level plus the open entry
//! bundle. Everything left of the edge is immutable and lives only in storage.
//!
//! Invariant: after `load` or `append`, `edges[l]` is the tile at level `l` that holds the
//! level-`l` hashes not yet grouped into a full tile, so the tree's root and every inclusion
//! proof for a leaf appended in the current batch can be computed from the edges plus the
//! tiles completed in that batch (see [`Snapshot`]).

use super::LogError;
use super::storage::{BundleWrite, LogSlot, LogStore};
use lru::LruCache;
use mayfly_spec::tlog::proof::{self, Subtree};
use mayfly_spec::tlog::tile::{self, TILE_WIDTH, TileId, TileTree};
use mayfly_spec::tlog::{Hash, TlogError};
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

#[derive(Debug)]
pub(crate) struct Tree {
    size: u64,
    /// `edges[l]`: the right-edge tile of level `l`, possibly empty (width 0).
    edges: Vec<TileTree>,
    /// The open (not yet full) entry bundle and how many entries it holds.
    bundle: Vec<u8>,
    bundle_len: u64,
    /// How many appends storage holds for the open bundle ([`MAX_BUNDLE_PARTS`] when unknown,
    /// after a load).
    bundle_parts: usize,
}

/// Most appends a full entry bundle is left in. A bundle that fills in no more parts than this
/// gets its last bytes appended, so each entry is written once: under load, where batches are
/// large, rewriting full bundles whole was a quarter of the bytes written per dsse entry and
/// cost about 9 % of throughput (BENCHMARKS.md, issue 16, fourth round). One that took more
/// (small batches: a quiet log) is rewritten whole once, so that no reader of a full bundle
/// has to put it together from hundreds of one-entry rows.
const MAX_BUNDLE_PARTS: usize = 64;

/// What [`Tree::undo`] restores: the tree's state before one append. The edges are a few
/// tiles of hashes; of the open bundle only its length is kept, since an append only adds to
/// it, unless the append filled it, in which case the bundle as it was is kept whole.
pub(crate) struct Undo {
    size: u64,
    edges: Vec<TileTree>,
    bundle_bytes: usize,
    bundle_len: u64,
    bundle_parts: usize,
    filled: Option<Vec<u8>>,
}

/// What appending a batch changed, ready to be written.
#[derive(Default)]
pub(crate) struct Changes {
    pub tiles: Vec<(TileId, Vec<u8>)>,
    pub bundles: Vec<BundleWrite>,
    /// Tiles completed by this batch, kept for proof snapshots.
    completed: Vec<TileTree>,
}

impl Tree {
    pub(super) fn empty() -> Self {
        Tree {
            size: 0,
            edges: vec![TileTree::new(TileId { level: 0, index: 0 })],
            bundle: Vec::new(),
            bundle_len: 0,
            bundle_parts: 0,
        }
    }

    pub(super) fn size(&self) -> u64 {
        self.size
    }

    /// Rebuilds the right edge of a tree of `size` leaves from storage, checking that every
    /// stored edge tile and the open bundle hold at least what the size implies.
    ///
    /// A row may hold more: with replicas, another process can commit between the read of the
    /// checkpoint and the reads of its tiles, and tiles and bundles only ever grow (the store's
    /// contract), so the first `width` hashes or entries of a wider row are exactly those of
    /// the tree of `size`. The caller compares the root with the checkpoint's either way.
    pub(super) async fn load<S: LogStore>(
        store: &S,
        log: LogSlot,
        size: u64,
    ) -> Result<Self, LogError> {
        let mut edges = Vec::new();
        for level in 0..=max_level(size) {
            let id = TileId {
                level,
                index: (size >> (8 * u32::from(level))) / TILE_WIDTH,
            };
            let width = tile::tile_width(id, size);
            let tree = if width == 0 {
                TileTree::new(id)
            } else {
                let data = store
                    .hash_tile(log, id)
                    .await?
                    .ok_or_else(|| corrupt(format!("missing edge tile {id:?}")))?;
                let want = width as usize * Hash::LEN;
                if data.len() < want {
                    return Err(corrupt(format!(
                        "edge tile {id:?} holds {} bytes where size {size} needs {want}",
                        data.len()
                    )));
                }
                TileTree::from_bytes(id, &data[..want]).map_err(|e| corrupt(e.to_string()))?
            };
            edges.push(tree);
        }
        let bundle_index = size / TILE_WIDTH;
        let bundle_len = tile::entries_width(bundle_index, size) % TILE_WIDTH;
        let bundle = if bundle_len == 0 {
            Vec::new()
        } else {
            let data = store
                .entry_bundle(log, bundle_index)
                .await?
                .ok_or_else(|| corrupt(format!("missing entry bundle {bundle_index}")))?;
            let count = tile::split_entries(&data)
                .map_err(|e| corrupt(e.to_string()))?
                .len() as u64;
            if count < bundle_len {
                return Err(corrupt(format!(
                    "entry bundle {bundle_index} holds {count} entries where size {size} needs {bundle_len}"
                )));
            }
            tile::bundle_prefix(&data, bundle_len as usize)
                .map_err(|e| corrupt(e.to_string()))?
                .to_vec()
        };
        Ok(Tree {
            size,
            edges,
            bundle,
            bundle_len,
            bundle_parts: if bundle_len == 0 { 0 } else { MAX_BUNDLE_PARTS },
        })
    }

    /// Appends entries (with their leaf hashes) and reports every tile and bundle to rewrite.
    /// On an error the tree is as it was.
    pub(super) fn append<'a>(
        &mut self,
        entries: impl IntoIterator<Item = (Hash, &'a [u8])>,
    ) -> Result<Changes, TlogError> {
        self.append_undoable(entries).map(|(changes, _)| changes)
    }

    /// [`Tree::append`], with what [`Tree::undo`] needs to put the tree back if the batch does
    /// not commit. The tree is changed in place: copying it per batch instead copied the open
    /// bundle (up to 256 entries) twice per batch, which at a few entries per batch was a tenth
    /// of the instructions of an issuance.
    pub(super) fn append_undoable<'a>(
        &mut self,
        entries: impl IntoIterator<Item = (Hash, &'a [u8])>,
    ) -> Result<(Changes, Undo), TlogError> {
        let mut undo = Undo {
            size: self.size,
            edges: self.edges.clone(),
            bundle_bytes: self.bundle.len(),
            bundle_len: self.bundle_len,
            bundle_parts: self.bundle_parts,
            filled: None,
        };
        match self.append_in_place(entries, &mut undo) {
            Ok(changes) => Ok((changes, undo)),
            Err(e) => {
                self.undo(undo);
                Err(e)
            }
        }
    }

    /// Puts the tree back as it was before the append that returned `undo`.
    pub(super) fn undo(&mut self, undo: Undo) {
        self.size = undo.size;
        self.edges = undo.edges;
        self.bundle_len = undo.bundle_len;
        self.bundle_parts = undo.bundle_parts;
        match undo.filled {
            Some(bundle) => self.bundle = bundle,
            // Entries are only ever added to the open bundle: cutting it back undoes them.
            None => self.bundle.truncate(undo.bundle_bytes),
        }
    }

    fn append_in_place<'a>(
        &mut self,
        entries: impl IntoIterator<Item = (Hash, &'a [u8])>,
        undo: &mut Undo,
    ) -> Result<Changes, TlogError> {
        let mut changes = Changes::default();
        let mut dirty = vec![false; self.edges.len()];
        // Bytes of the open bundle that storage already holds: only what follows is new.
        let mut stored = self.bundle.len();
        for (leaf, entry) in entries {
            tile::push_entry(&mut self.bundle, entry)?;
            self.bundle_len += 1;
            if self.bundle_len == TILE_WIDTH {
                let index = self.size / TILE_WIDTH;
                // The next bundle will be about as large: sized once, it does not regrow
                // through a dozen reallocations (each of the larger ones fresh pages).
                let next = Vec::with_capacity(self.bundle.len());
                let mut full = std::mem::replace(&mut self.bundle, next);
                // The write, and the bundle as it was before this append, for `undo`.
                let (write, before) = if self.bundle_parts < MAX_BUNDLE_PARTS {
                    let data = full.split_off(stored);
                    let write = BundleWrite::Append {
                        index,
                        offset: stored as u64,
                        data,
                    };
                    (write, full)
                } else {
                    let before = full[..stored].to_vec();
                    (BundleWrite::Complete { index, data: full }, before)
                };
                changes.bundles.push(write);
                // Only the first bundle this append fills existed before it.
                if undo.filled.is_none() {
                    undo.filled = Some(before);
                }
                self.bundle_len = 0;
                self.bundle_parts = 0;
                stored = 0;
            }
            self.push_hash(0, leaf, &mut changes, &mut dirty)?;
            self.size += 1;
        }
        if self.bundle.len() > stored {
            changes.bundles.push(BundleWrite::Append {
                index: self.size / TILE_WIDTH,
                offset: stored as u64,
                data: self.bundle[stored..].to_vec(),
            });
            self.bundle_parts += 1;
        }
        for (edge, _) in self
            .edges
            .iter()
            .zip(&dirty)
            .filter(|(edge, d)| **d && edge.width() > 0)
        {
            changes.tiles.push((edge.id(), edge.to_bytes()));
        }
        Ok(changes)
    }

    /// Pushes a hash onto level `level`; a tile it completes is emitted whole and its root
    /// carried up to the next level.
    fn push_hash(
        &mut self,
        level: u8,
        hash: Hash,
        changes: &mut Changes,
        dirty: &mut Vec<bool>,
    ) -> Result<(), TlogError> {
        let l = usize::from(level);
        if l == self.edges.len() {
            self.edges.push(TileTree::new(TileId { level, index: 0 }));
            dirty.push(false);
        }
        self.edges[l].push(hash)?;
        dirty[l] = true;
        if let Some(root) = self.edges[l].root() {
            let next = TileTree::new(TileId {
                level,
                index: self.edges[l].id().index + 1,
            });
            let full = std::mem::replace(&mut self.edges[l], next);
            changes.tiles.push((full.id(), full.to_bytes()));
            changes.completed.push(full);
            dirty[l] = false;
            self.push_hash(level + 1, root, changes, dirty)?;
        }
        Ok(())
    }

    /// The tiles needed to prove anything about the leaves appended since `changes` began.
    pub(super) fn snapshot(&self, changes: Changes) -> Snapshot {
        let mut tiles: HashMap<TileId, Arc<TileTree>> = changes
            .completed
            .into_iter()
            .map(|t| (t.id(), Arc::new(t)))
            .collect();
        for edge in self.edges.iter().filter(|e| e.width() > 0) {
            tiles.insert(edge.id(), Arc::new(edge.clone()));
        }
        Snapshot {
            size: self.size,
            tiles: TileMap(tiles),
        }
    }
}

/// The deepest tile level a tree of `size` leaves has hashes at.
fn max_level(size: u64) -> u8 {
    let mut level = 0u8;
    while size >> (8 * (u32::from(level) + 1)) > 0 {
        level += 1;
    }
    level
}

fn corrupt(msg: String) -> LogError {
    LogError::Inconsistent(msg)
}

/// A set of tiles, answering perfect-subtree hashes.
#[derive(Clone, Debug, Default)]
pub(crate) struct TileMap(HashMap<TileId, Arc<TileTree>>);

/// Full hash tiles read from storage, kept built. A full tile never changes (tiles only grow,
/// and a full one cannot), so a cached one is never stale; the right edge's partial tiles are
/// always read afresh. Proofs for reads by index and for the audit API then read from the
/// database only the tiles they have not used lately, and skip rebuilding each tile's internal
/// tree (255 hashes).
pub(crate) struct TileCache(Mutex<LruCache<TileId, Arc<TileTree>>>);

impl TileCache {
    /// Room for about 16 MiB of built tiles: every upper-level tile of a log of a few hundred
    /// million entries, and the level-0 tiles of its recent quarter million.
    const TILES: usize = 1024;

    pub(crate) fn new() -> Self {
        TileCache(Mutex::new(LruCache::new(
            NonZeroUsize::new(Self::TILES).unwrap_or(NonZeroUsize::MIN),
        )))
    }

    fn get(&self, id: &TileId) -> Option<Arc<TileTree>> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    fn keep(&self, tile: &Arc<TileTree>) {
        if tile.is_full() {
            let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
            cache.put(tile.id(), tile.clone());
        }
    }
}

impl TileMap {
    pub(super) fn node(&self, s: Subtree) -> Result<Hash, LogError> {
        let (id, height, index) = tile::locate(s);
        self.0
            .get(&id)
            .and_then(|t| t.node(height, index))
            .ok_or_else(|| corrupt(format!("tile {id:?} lacks the node for {s:?}")))
    }

    pub(super) fn root(&self, size: u64) -> Result<Hash, LogError> {
        if size == 0 {
            return Ok(mayfly_spec::tlog::hash::empty_root());
        }
        proof::range_hash(0..size, |s| self.node(s))
    }

    /// Fetches every tile holding a node of the given subtrees: from `cache` if it holds it,
    /// else from storage. Without a cache, everything comes from storage: what checks the
    /// stored tree against one it must contain.
    pub(super) async fn fetch<S: LogStore>(
        store: &S,
        log: LogSlot,
        cache: Option<&TileCache>,
        subtrees: impl IntoIterator<Item = Subtree>,
    ) -> Result<Self, LogError> {
        let mut tiles = HashMap::new();
        for s in subtrees {
            let (id, _, _) = tile::locate(s);
            if tiles.contains_key(&id) {
                continue;
            }
            let tile = match cache.and_then(|c| c.get(&id)) {
                Some(tile) => tile,
                None => {
                    let data = store
                        .hash_tile(log, id)
                        .await?
                        .ok_or_else(|| corrupt(format!("missing tile {id:?}")))?;
                    let tile = Arc::new(
                        TileTree::from_bytes(id, &data).map_err(|e| corrupt(e.to_string()))?,
                    );
                    if let Some(cache) = cache {
                        cache.keep(&tile);
                    }
                    tile
                }
            };
            tiles.insert(id, tile);
        }
        Ok(TileMap(tiles))
    }
}

/// The tree right after a batch: enough to compute the root and every new leaf's proof.
/// Shared by all waiters of a batch; each computes its own proof, off the sequencer's path.
#[derive(Clone, Debug)]
pub struct Snapshot {
    size: u64,
    tiles: TileMap,
}

impl Snapshot {
    pub fn size(&self) -> u64 {
        self.size
    }

    pub(crate) fn root(&self) -> Result<Hash, LogError> {
        self.tiles.root(self.size)
    }

    /// The inclusion proof (leaf to root) of a leaf appended in this snapshot's batch.
    pub fn inclusion_proof(&self, index: u64) -> Result<Vec<Hash>, LogError> {
        proof::inclusion_proof(index, self.size, |s| self.tiles.node(s))
    }
}

/// Inclusion proof for any leaf against a tree of `size`, read from storage.
pub(crate) async fn read_inclusion_proof<S: LogStore>(
    store: &S,
    log: LogSlot,
    cache: Option<&TileCache>,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, LogError> {
    let ranges = proof::inclusion_ranges(index, size)?;
    // Collected before the await: a borrowing `FlatMap` held across it makes the future's
    // `Send` unprovable for rustc (higher-ranked lifetime inference), so HTTP handlers that
    // await these proofs would not compile.
    let subtrees: Vec<_> = ranges
        .iter()
        .flat_map(|r| proof::subtrees(r.clone()))
        .collect();
    let tiles = TileMap::fetch(store, log, cache, subtrees).await?;
    proof::inclusion_proof(index, size, |s| tiles.node(s))
}

/// Inclusion proofs for several leaves against one tree of `size`, reading each tile they
/// need once (neighbouring leaves share all but their lowest tiles).
pub(crate) async fn read_inclusion_proofs<S: LogStore>(
    store: &S,
    log: LogSlot,
    cache: Option<&TileCache>,
    indexes: &[u64],
    size: u64,
) -> Result<Vec<Vec<Hash>>, LogError> {
    let mut subtrees = Vec::new();
    for index in indexes {
        for range in proof::inclusion_ranges(*index, size)? {
            subtrees.extend(proof::subtrees(range));
        }
    }
    let tiles = TileMap::fetch(store, log, cache, subtrees).await?;
    indexes
        .iter()
        .map(|index| proof::inclusion_proof(*index, size, |s| tiles.node(s)))
        .collect()
}

/// Consistency proof between two sizes, read from storage.
pub(crate) async fn read_consistency_proof<S: LogStore>(
    store: &S,
    log: LogSlot,
    cache: Option<&TileCache>,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, LogError> {
    let ranges = proof::consistency_ranges(old, new)?;
    // Collected before the await: a borrowing `FlatMap` held across it makes the future's
    // `Send` unprovable for rustc (higher-ranked lifetime inference), so HTTP handlers that
    // await these proofs would not compile.
    let subtrees: Vec<_> = ranges
        .iter()
        .flat_map(|r| proof::subtrees(r.clone()))
        .collect();
    let tiles = TileMap::fetch(store, log, cache, subtrees).await?;
    proof::consistency_proof(old, new, |s| tiles.node(s))
}

/// The root of a tree of `size` leaves, read from storage.
pub(crate) async fn read_root<S: LogStore>(
    store: &S,
    log: LogSlot,
    cache: Option<&TileCache>,
    size: u64,
) -> Result<Hash, LogError> {
    let tiles = TileMap::fetch(
        store,
        log,
        cache,
        if size == 0 {
            vec![]
        } else {
            proof::subtrees(0..size)
        },
    )
    .await?;
    tiles.root(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mayfly_spec::tlog::hash::root_of;
    use mayfly_spec::tlog::leaf_hash;
    use proptest::prelude::*;

    /// Only full tiles are kept: a partial one grows, and a kept copy would go stale.
    #[test]
    fn the_tile_cache_keeps_full_tiles_only() {
        let cache = TileCache::new();
        let mut tile = TileTree::new(TileId { level: 0, index: 7 });
        for i in 0..TILE_WIDTH - 1 {
            tile.push(leaf_hash(&i.to_be_bytes())).unwrap();
        }
        let partial = Arc::new(tile.clone());
        cache.keep(&partial);
        assert!(cache.get(&partial.id()).is_none());
        tile.push(leaf_hash(b"last")).unwrap();
        let full = Arc::new(tile);
        cache.keep(&full);
        let kept = cache.get(&full.id()).expect("a full tile is kept");
        assert!(Arc::ptr_eq(&kept, &full));
    }

    /// The bundle writes of appending `batches` batches of `size` entries to an empty tree.
    fn bundle_writes(batches: usize, size: usize) -> Vec<BundleWrite> {
        let mut tree = Tree::empty();
        let mut writes = Vec::new();
        for _ in 0..batches {
            let entries: Vec<Vec<u8>> = (0..size)
                .map(|i| format!("{}-{i}", tree.size()).into_bytes())
                .collect();
            let changes = tree
                .append(entries.iter().map(|e| (leaf_hash(e), e.as_slice())))
                .unwrap();
            writes.extend(changes.bundles);
        }
        writes
    }

    #[test]
    fn a_bundle_filled_in_many_parts_is_rewritten_whole_and_one_filled_in_few_is_not() {
        // 256 one-entry batches: 255 appends, then the full bundle whole.
        let writes = bundle_writes(256, 1);
        assert_eq!(writes.len(), 256);
        assert!(matches!(&writes[254], BundleWrite::Append { offset, .. } if *offset > 0));
        let BundleWrite::Complete { index: 0, data } = &writes[255] else {
            panic!("{:?}", writes[255]);
        };
        assert_eq!(tile::split_entries(data).unwrap().len(), 256);
        // 64-entry batches: four appends, the last one filling the bundle.
        let writes = bundle_writes(4, 64);
        assert_eq!(writes.len(), 4);
        assert!(
            writes
                .iter()
                .all(|w| matches!(w, BundleWrite::Append { index: 0, .. }))
        );
    }

    /// What a batch of `size` entries numbered from the tree's size writes.
    fn batch_entries(tree: &Tree, size: usize) -> Vec<Vec<u8>> {
        (0..size)
            .map(|i| format!("{}-{i}", tree.size()).into_bytes())
            .collect()
    }

    /// The rarer way a bundle fills: after more than `MAX_BUNDLE_PARTS` appends it is written
    /// whole, and undoing that batch brings back the bundle as it was.
    #[test]
    fn undoing_a_batch_that_rewrote_a_full_bundle_brings_the_bundle_back() {
        let mut tree = Tree::empty();
        let mut reference = Tree::empty();
        for _ in 0..250 {
            let entries = batch_entries(&tree, 1);
            let hashed = || entries.iter().map(|e| (leaf_hash(e), e.as_slice()));
            tree.append(hashed()).unwrap();
            reference.append(hashed()).unwrap();
        }
        let entries = batch_entries(&tree, 10);
        let (changes, undo) = tree
            .append_undoable(entries.iter().map(|e| (leaf_hash(e), e.as_slice())))
            .unwrap();
        assert!(matches!(
            changes.bundles.as_slice(),
            [
                BundleWrite::Complete { index: 0, .. },
                BundleWrite::Append {
                    index: 1,
                    offset: 0,
                    ..
                }
            ]
        ));
        tree.undo(undo);
        assert_eq!(format!("{tree:?}"), format!("{reference:?}"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// A batch that does not commit leaves no trace: whatever it filled or completed, the
        /// undone tree is the tree that never saw it, and writes the next batch identically.
        #[test]
        fn an_undone_batch_leaves_the_tree_as_it_was(
            batches in proptest::collection::vec((1usize..400, any::<bool>()), 1..8),
        ) {
            let mut tree = Tree::empty();
            let mut reference = Tree::empty();
            for (size, commits) in batches {
                let entries = batch_entries(&tree, size);
                let hashed = || entries.iter().map(|e| (leaf_hash(e), e.as_slice()));
                let (changes, undo) = tree.append_undoable(hashed()).unwrap();
                if commits {
                    let theirs = reference.append(hashed()).unwrap();
                    prop_assert_eq!(&changes.bundles, &theirs.bundles);
                    prop_assert_eq!(&changes.tiles, &theirs.tiles);
                } else {
                    tree.undo(undo);
                }
                prop_assert_eq!(format!("{tree:?}"), format!("{reference:?}"));
            }
            let entries = batch_entries(&tree, 300);
            let ours = tree.append(entries.iter().map(|e| (leaf_hash(e), e.as_slice()))).unwrap();
            let theirs = reference.append(entries.iter().map(|e| (leaf_hash(e), e.as_slice()))).unwrap();
            prop_assert_eq!(ours.bundles, theirs.bundles);
            prop_assert_eq!(ours.tiles, theirs.tiles);
        }

        /// However appends are split into batches, the root and every new leaf's proof match
        /// the reference definitions, and the emitted tiles are exactly what a reader needs.
        #[test]
        fn batches_match_the_reference_tree(batches in proptest::collection::vec(1usize..700, 1..6)) {
            let mut tree = Tree::empty();
            let mut leaves = Vec::new();
            let mut stored: HashMap<TileId, Vec<u8>> = HashMap::new();
            // Each bundle as storage holds it, and in how many pieces.
            let mut bundles: HashMap<u64, (Vec<u8>, usize)> = HashMap::new();
            for batch in batches {
                let entries: Vec<Vec<u8>> = (0..batch).map(|i| format!("{}-{i}", leaves.len()).into_bytes()).collect();
                let first = tree.size();
                let mut changes = tree.append(entries.iter().map(|e| (leaf_hash(e), e.as_slice()))).unwrap();
                leaves.extend(entries.iter().map(|e| leaf_hash(e)));
                for (id, data) in std::mem::take(&mut changes.tiles) {
                    stored.insert(id, data);
                }
                for write in std::mem::take(&mut changes.bundles) {
                    match write {
                        BundleWrite::Append { index, offset, data } => {
                            let (bundle, parts) = bundles.entry(index).or_default();
                            prop_assert_eq!(offset, bundle.len() as u64, "bundle {} has a gap", index);
                            bundle.extend_from_slice(&data);
                            *parts += 1;
                        }
                        BundleWrite::Complete { index, data } => {
                            let (bundle, parts) = bundles.entry(index).or_default();
                            prop_assert!(*parts >= MAX_BUNDLE_PARTS, "bundle {} rewritten after {} parts", index, parts);
                            prop_assert!(data.starts_with(bundle));
                            *bundle = data;
                            *parts = 1;
                        }
                    }
                }
                let snapshot = tree.snapshot(changes);
                prop_assert_eq!(snapshot.root().unwrap(), root_of(&leaves));
                for index in [first, first + batch as u64 / 2, tree.size() - 1] {
                    let path = snapshot.inclusion_proof(index).unwrap();
                    prop_assert!(proof::verify_inclusion(&leaves[index as usize], index, tree.size(), &path, &root_of(&leaves)).is_ok());
                }
            }
            // Level-0 tiles hold exactly the leaf hashes, in order.
            let level0: Vec<u8> = (0..leaves.len().div_ceil(256) as u64)
                .flat_map(|i| stored[&TileId { level: 0, index: i }].clone())
                .collect();
            prop_assert_eq!(level0, leaves.iter().flat_map(|h| h.0).collect::<Vec<u8>>());
            // The writes to each entry bundle add up to its entries, in order, in at most
            // MAX_BUNDLE_PARTS pieces once it is full.
            for (index, leaf) in leaves.iter().enumerate() {
                let (bundle, parts) = &bundles[&(index as u64 / TILE_WIDTH)];
                let full = tile::split_entries(bundle).unwrap().len() == TILE_WIDTH as usize;
                prop_assert!(!full || *parts <= MAX_BUNDLE_PARTS, "a full bundle in {} parts", parts);
                let entries = tile::split_entries(bundle).unwrap();
                prop_assert_eq!(leaf_hash(entries[index % TILE_WIDTH as usize]), *leaf);
            }
        }
    }
}
