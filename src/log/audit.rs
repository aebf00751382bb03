//! Re-verifies a whole log from storage alone, trusting nothing the sequencer remembers.
//!
//! Used after every injected fault in the crash tests, after a restart, and by operators who
//! want to prove that what is stored is one consistent, signed tree.

use super::LogError;
use super::storage::{LogSlot, LogStore};
use crate::log::key::LogKey;
use mayfly_spec::tlog::checkpoint::open_checkpoint;
use mayfly_spec::tlog::hash::root_of;
use mayfly_spec::tlog::tile::{self, TILE_WIDTH, TileId, TileTree};
use mayfly_spec::tlog::{Hash, leaf_hash};

/// What a successful audit covered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditReport {
    pub size: u64,
    pub root: Hash,
    pub tiles: u64,
    pub bundles: u64,
}

/// Checks, for the log in `slot`:
/// - the checkpoint note verifies under `key` for `origin` and agrees with its row;
/// - every entry bundle exists with exactly the entries the size implies;
/// - every hash tile at every level holds exactly the hashes recomputed from the level below;
/// - the root recomputed from the entries equals the checkpoint's root;
/// - when `verbatim` (entries stored as submitted, so the dedup key is the leaf hash), every
///   entry's index row points back at it, except the log's genesis entry, which has none.
pub async fn check_log<S: LogStore>(
    store: &S,
    slot: LogSlot,
    origin: &str,
    key: &LogKey,
    verbatim: bool,
) -> Result<AuditReport, LogError> {
    check_log_with(store, slot, origin, key.verifying_key(), verbatim).await
}

/// [`check_log`] with the log's public key alone (what an instance whose keys live in an HSM
/// keeps on disk).
pub async fn check_log_with<S: LogStore>(
    store: &S,
    slot: LogSlot,
    origin: &str,
    key: &p256::ecdsa::VerifyingKey,
    verbatim: bool,
) -> Result<AuditReport, LogError> {
    let fail = |msg: String| LogError::Audit(msg);
    let head = store
        .checkpoint(slot)
        .await?
        .ok_or_else(|| fail("no checkpoint".into()))?;
    let verifier = mayfly_spec::tlog::note::EcdsaNoteVerifier::new(origin, *key)
        .map_err(|e| fail(format!("checkpoint key: {e}")))?;
    let opened = open_checkpoint(head.note.as_bytes(), origin, &verifier)
        .map_err(|e| fail(format!("checkpoint note: {e}")))?;
    if (opened.checkpoint.size, opened.checkpoint.root) != (head.size, head.root) {
        return Err(fail("checkpoint row and note disagree".into()));
    }
    let size = head.size;

    let mut level_hashes: Vec<Hash> = Vec::with_capacity(size as usize);
    let mut bundles = 0;
    let mut genesis = false;
    for index in 0..size.div_ceil(TILE_WIDTH) {
        let data = store
            .entry_bundle(slot, index)
            .await?
            .ok_or_else(|| fail(format!("entry bundle {index} missing")))?;
        let entries =
            tile::split_entries(&data).map_err(|e| fail(format!("entry bundle {index}: {e}")))?;
        let want = tile::entries_width(index, size);
        if entries.len() as u64 != want {
            return Err(fail(format!(
                "entry bundle {index} holds {} entries, size {size} needs {want}",
                entries.len()
            )));
        }
        if index == 0 {
            genesis = entries
                .first()
                .is_some_and(|e| mayfly_spec::tlog::genesis::is_genesis(origin, 0, e));
        }
        level_hashes.extend(entries.iter().map(|e| leaf_hash(e)));
        bundles += 1;
    }
    if root_of(&level_hashes) != head.root {
        return Err(fail(format!(
            "entries hash to {}, checkpoint says {}",
            root_of(&level_hashes),
            head.root
        )));
    }
    if verbatim {
        for (chunk_no, chunk) in level_hashes.chunks(512).enumerate() {
            let found = store.lookup(slot, chunk).await?;
            for (i, record) in found.into_iter().enumerate() {
                let index = (chunk_no * 512 + i) as u64;
                match record {
                    Some(r) if r.index == index => {}
                    None if genesis && index == 0 => {}
                    other => return Err(fail(format!("index row for entry {index} is {other:?}"))),
                }
            }
        }
    }

    let mut tiles = 0;
    let mut level = 0u8;
    while !level_hashes.is_empty() {
        let mut next = Vec::with_capacity(level_hashes.len() / 256);
        for (index, chunk) in level_hashes.chunks(TILE_WIDTH as usize).enumerate() {
            let id = TileId {
                level,
                index: index as u64,
            };
            let data = store
                .hash_tile(slot, id)
                .await?
                .ok_or_else(|| fail(format!("tile {id:?} missing")))?;
            let stored =
                TileTree::from_bytes(id, &data).map_err(|e| fail(format!("tile {id:?}: {e}")))?;
            if stored.hashes() != chunk {
                return Err(fail(format!("tile {id:?} does not match the level below")));
            }
            next.extend(stored.root());
            tiles += 1;
        }
        level_hashes = next;
        level += 1;
    }
    Ok(AuditReport {
        size,
        root: head.root,
        tiles,
        bundles,
    })
}
