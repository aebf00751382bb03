//! The narrow storage contract the log engine is written against.
//!
//! A store holds, per log: the latest signed checkpoint, the hash tiles (one row per tile
//! coordinate, replaced as a right-edge tile grows), the entry bundles (the open one as the
//! appends that built it, see [`BundleWrite`]), and an index from each
//! entry's dedup key to its position and timestamp. The engine never asks for anything else, so
//! SQLite and PostgreSQL can each be written the way that suits them.
//!
//! Contracts every implementation must keep:
//! - [`LogStore::commit`] is atomic and durable: when it returns `Ok`, everything in the batch
//!   survives a crash; when it returns `Err`, either nothing of the batch is visible or all of
//!   it is (a failure reported after the data became durable). The engine copes with both by
//!   reloading.
//! - The checkpoint is replaced only by compare-and-swap on `(size, root)`: a batch whose
//!   `previous` does not match what is stored fails with [`StoreError::Conflict`] and writes
//!   nothing. This is what stops two writers from forking a log.
//! - A writer takes a turn ([`LogStore::begin_turn`]) before it reads the checkpoint it will
//!   extend, and holds it until its commit: writers on one database then queue instead of
//!   racing, so none of them starves by losing the compare-and-swap round after round. The
//!   compare-and-swap stays the safety net; the turn only makes losing it rare.
//! - Tiles and bundles only ever grow: a stored tile is always a prefix-extension of every
//!   earlier version. Readers rely on this to serve old partial tiles from newer rows.

use mayfly_spec::tlog::Hash;
use mayfly_spec::tlog::tile::TileId;
use std::future::Future;

/// Which log in a shared database. Stable on disk: never renumber.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LogSlot(pub u8);

impl LogSlot {
    pub const ISSUANCE: LogSlot = LogSlot(1);
    pub const ARTIFACTS: LogSlot = LogSlot(2);
    /// The Rekor v2 log (`/api/v2/log/entries`), a shard of its own.
    pub const REKOR_V2: LogSlot = LogSlot(3);
}

/// The latest signed tree head as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub size: u64,
    pub root: Hash,
    /// The signed note, byte for byte as served.
    pub note: String,
}

/// Where an entry landed. `key` is the entry's dedup key (the RFC 6962 leaf hash of the
/// submitted payload), `timestamp` the batch's integration time in Unix milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeafRecord {
    pub key: Hash,
    pub index: u64,
    pub timestamp: u64,
}

/// Everything one sequencing round writes, committed in one transaction.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// The checkpoint this batch extends, `None` when it creates the log.
    pub previous: Option<(u64, Hash)>,
    pub checkpoint: Option<StoredCheckpoint>,
    /// Hash tiles at their new (latest) contents: 32-byte hashes concatenated.
    pub tiles: Vec<(TileId, Vec<u8>)>,
    /// Entry-bundle writes, in index order.
    pub bundles: Vec<BundleWrite>,
    pub leaves: Vec<LeafRecord>,
}

/// New entry-bundle bytes. Bundles only ever grow until they hold 256 entries, so the sequencer
/// writes each one as appends: rewriting it whole in every batch would write up to 256 entries
/// per commit whatever the batch size (half a MiB for 2 KiB Rekor entries). A bundle that fills
/// after many small appends is rewritten whole once (see `tree::MAX_BUNDLE_PARTS`), as are
/// imports; the backends read both shapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BundleWrite {
    /// `data` continues bundle `index` at byte `offset`; everything before it was written by
    /// earlier batches (or by this one, in an earlier write of the list).
    Append {
        index: u64,
        offset: u64,
        data: Vec<u8>,
    },
    /// Bundle `index` is full: `data` is its final, whole contents; the backend keeps it as one
    /// piece and drops any appends it held for it.
    Complete { index: u64, data: Vec<u8> },
}

/// Joins the stored pieces of entry bundle `index` (byte offset and bytes, in offset order):
/// a bundle written whole is the single piece at offset 0, an open one the appends that built
/// it. They must tile the bundle without gaps or overlaps. The result is allocated once at its
/// final size and each piece copied once: a full bundle is about a megabyte, copies were a
/// quarter of a read by index's server time, and joining this way took 15–25 % off each such
/// read (BENCHMARKS.md, issue 16, fifth round).
pub fn join_bundle<'a>(
    index: u64,
    parts: impl Iterator<Item = (i64, &'a [u8])> + Clone,
) -> Result<Option<Vec<u8>>, StoreError> {
    let mut parts = parts.peekable();
    if parts.peek().is_none() {
        return Ok(None);
    }
    let total = parts.clone().map(|(_, data)| data.len()).sum();
    let mut bundle = Vec::with_capacity(total);
    for (offset, data) in parts {
        if u64::try_from(offset).ok() != Some(bundle.len() as u64) {
            return Err(StoreError::Corrupt(format!(
                "entry bundle {index}: part at byte {offset} does not follow byte {}",
                bundle.len()
            )));
        }
        bundle.extend_from_slice(data);
    }
    Ok(Some(bundle))
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A value the engine asked to store or look up does not fit the backend's types (an index
    /// beyond what any log can reach). Nothing was written.
    #[error("{0} is beyond what the database can store")]
    OutOfRange(u64),
    /// The stored checkpoint is not the one the batch extends, or a leaf row already exists:
    /// another writer got there first. Nothing was written.
    #[error("another writer advanced the log")]
    Conflict,
    /// The backend failed (I/O, connection, constraint), with the backend's own error as the
    /// source. The batch may or may not be durable.
    #[error("storage backend: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Stored data does not have the shape the engine wrote.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database cannot be used at all: unreachable, or holding a schema this binary does
    /// not know. The message says which and what to do. Nothing was written.
    #[error("{0}")]
    Unavailable(String),
}

/// Storage for one or more logs. Cloning is cheap (a handle).
pub trait LogStore: Clone + Send + Sync + 'static {
    /// One writer's exclusive turn at a log; dropping it ends the turn.
    type Turn: Send + 'static;

    /// Waits until no other writer holds a turn at `log`, then reads its checkpoint: lock, then
    /// read, so that what it returns stays the stored checkpoint for as long as the turn lasts
    /// (unless a writer that takes no turns commits meanwhile: the compare-and-swap catches it).
    fn begin_turn(
        &self,
        log: LogSlot,
    ) -> impl Future<Output = Result<(Self::Turn, Option<StoredCheckpoint>), StoreError>> + Send;

    /// The latest checkpoint, or `None` if the log was never created.
    fn checkpoint(
        &self,
        log: LogSlot,
    ) -> impl Future<Output = Result<Option<StoredCheckpoint>, StoreError>> + Send;

    /// The latest stored version of a hash tile (its width is `len / 32`).
    fn hash_tile(
        &self,
        log: LogSlot,
        id: TileId,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;

    /// The latest stored version of an entry bundle.
    fn entry_bundle(
        &self,
        log: LogSlot,
        index: u64,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;

    /// Looks up dedup keys; the result has one slot per key, in order.
    fn lookup(
        &self,
        log: LogSlot,
        keys: &[Hash],
    ) -> impl Future<Output = Result<Vec<Option<LeafRecord>>, StoreError>> + Send;

    /// Atomically and durably applies a batch, with compare-and-swap on the checkpoint.
    fn commit(
        &self,
        log: LogSlot,
        batch: &Batch,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(parts: &[(i64, &[u8])]) -> Result<Option<Vec<u8>>, StoreError> {
        join_bundle(7, parts.iter().copied())
    }

    #[test]
    fn pieces_join_only_when_each_starts_where_the_last_ended() {
        assert_eq!(join(&[]).unwrap(), None);
        assert_eq!(
            join(&[(0, b"whole")]).unwrap().as_deref(),
            Some(&b"whole"[..])
        );
        assert_eq!(
            join(&[(0, b"ab"), (2, b"cde"), (5, b"f")])
                .unwrap()
                .as_deref(),
            Some(&b"abcdef"[..])
        );
        for bad in [
            &[(1, &b"ab"[..])][..],
            &[(0, b"ab"), (3, b"cd")],
            &[(0, b"ab"), (1, b"cd")],
            &[(0, b"ab"), (-2, b"cd")],
        ] {
            let err = join(bad).unwrap_err();
            assert!(
                matches!(err, StoreError::Corrupt(ref m) if m.contains("entry bundle 7")),
                "{err}"
            );
        }
    }
}
