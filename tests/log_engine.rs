//! The log engine against a real database, SQLite and PostgreSQL: durability, proofs, dedup,
//! back-pressure, and crash safety under injected storage faults, with the whole tree
//! re-verified from storage after every step.

#[path = "support/backend.rs"]
mod backend;

use backend::{Backend, Database};
use mayfly::log::audit::check_log;
use mayfly::log::key::LogKey;
use mayfly::log::storage::{Batch, LogSlot, LogStore, StoreError, StoredCheckpoint};
use mayfly::log::{Appended, Log, LogConfig, LogError, Verbatim};
use mayfly::storage::Store;
use mayfly::testing::Fault;
use mayfly_spec::tlog::checkpoint::open_checkpoint;
use mayfly_spec::tlog::tile::TileId;
use mayfly_spec::tlog::{Hash, leaf_hash, proof};
use std::sync::Arc;

on_both_backends!(
    appends_are_durable_with_proofs_that_verify_against_signed_checkpoints,
    entries_below_the_published_size_are_always_readable(
        flavor = "multi_thread",
        worker_threads = 2
    ),
    a_log_without_dedup_appends_repeats_and_keeps_no_index,
    a_duplicate_gets_the_existing_index_and_adds_nothing,
    oversized_entries_are_refused_before_sequencing,
    every_persistence_fault_leaves_a_consistent_log,
    a_failed_statement_inside_a_commit_leaves_nothing_visible,
    a_full_pool_pushes_back_with_a_distinct_error,
    close_commits_everything_admitted_then_refuses,
    a_different_key_cannot_open_the_log,
    partial_tiles_serve_every_earlier_width,
    an_entry_the_codec_refuses_takes_no_index_and_is_an_internal_fault,
    batched_inclusion_proofs_equal_single_ones,
    a_genesis_log_starts_client_entries_at_one_and_an_old_log_at_zero,
);

const ORIGIN: &str = "test.mayfly.invalid";

/// The kit's fault-injecting store over the real store.
type FaultyStore = mayfly::testing::FaultyStore<Store>;

struct Fixture {
    db: Database,
    _dir: tempfile::TempDir,
    key: LogKey,
}

impl Fixture {
    /// A fresh database of the test's backend.
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Fixture {
            db: Backend::current().database(dir.path()).await,
            _dir: dir,
            key: LogKey::generate().unwrap(),
        }
    }

    fn config(&self) -> LogConfig {
        LogConfig {
            // One process, one writer: no checkpoint to follow, and no background reads to
            // consume the storage faults these tests arm for a batch (tests/log_replicas.rs
            // covers following).
            follow_every: None,
            ..LogConfig::new("test", LogSlot::ARTIFACTS, ORIGIN)
        }
    }

    async fn store(&self) -> Store {
        self.db.open().await
    }

    async fn create(&self) -> (Log<FaultyStore>, FaultyStore) {
        let store = FaultyStore::new(self.store().await);
        let log = Log::create(
            store.clone(),
            self.key.clone(),
            self.config(),
            Arc::new(Verbatim),
        )
        .await
        .unwrap();
        (log, store)
    }

    /// Reopens from disk as after a crash and re-verifies everything stored.
    async fn reopen_and_audit(&self) -> (Log<Store>, u64) {
        let store = self.store().await;
        let report = check_log(&store, LogSlot::ARTIFACTS, ORIGIN, &self.key, true)
            .await
            .unwrap();
        let log = Log::open(store, self.key.clone(), self.config(), Arc::new(Verbatim))
            .await
            .unwrap();
        assert_eq!(log.checkpoint().size, report.size);
        (log, report.size)
    }
}

fn entry(i: u64) -> Vec<u8> {
    format!("entry number {i} {}", "x".repeat((i % 97) as usize)).into_bytes()
}

fn sequenced(result: Result<Appended, LogError>) -> mayfly::log::Sequenced {
    match result {
        Ok(Appended::New(s)) => s,
        other => panic!("expected a new entry, got {other:?}"),
    }
}

async fn append_sequenced<S: LogStore>(
    log: &Log<S>,
    range: std::ops::Range<u64>,
) -> Vec<(u64, mayfly::log::Sequenced)> {
    let tasks: Vec<_> = range
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move { (i, sequenced(log.append(entry(i)).await)) })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// Appends `entry(i)` for each i concurrently; returns (i, index) pairs.
async fn append_many<S: LogStore>(log: &Log<S>, range: std::ops::Range<u64>) -> Vec<(u64, u64)> {
    append_sequenced(log, range)
        .await
        .into_iter()
        .map(|(i, s)| (i, s.index))
        .collect()
}

/// Every acknowledged entry is at its index in storage.
async fn assert_present<S: LogStore>(log: &Log<S>, acked: &[(u64, u64)]) {
    for (i, index) in acked {
        assert_eq!(
            log.entry(*index).await.unwrap().as_deref(),
            Some(entry(*i).as_slice()),
            "entry {i}"
        );
    }
}

async fn appends_are_durable_with_proofs_that_verify_against_signed_checkpoints() {
    let fx = Fixture::new().await;
    let (log, _) = fx.create().await;
    let acked = append_sequenced(&log, 0..1500).await;
    let verifier = fx.key.note_verifier(ORIGIN).unwrap();
    let mut indices: Vec<u64> = acked.iter().map(|(_, s)| s.index).collect();
    indices.sort_unstable();
    assert_eq!(
        indices,
        (0..1500).collect::<Vec<_>>(),
        "indices are dense and unique"
    );
    for (i, s) in &acked {
        let cp = open_checkpoint(s.checkpoint.note.as_bytes(), ORIGIN, &verifier)
            .unwrap()
            .checkpoint;
        assert!(cp.size > s.index);
        let path = s.inclusion_proof().unwrap();
        proof::verify_inclusion(&leaf_hash(&entry(*i)), s.index, cp.size, &path, &cp.root).unwrap();
    }
    // Proofs read back from storage agree, for old sizes too, and consistency holds.
    let head = log.checkpoint();
    for index in [0, 1, 255, 256, 1000, 1499] {
        let path = log.inclusion_proof(index, head.size).await.unwrap();
        let e = log.entry(index).await.unwrap().unwrap();
        proof::verify_inclusion(&leaf_hash(&e), index, head.size, &path, &head.root).unwrap();
    }
    for old in [1, 255, 256, 257, 700] {
        let old_root = log.root_at(old).await.unwrap();
        let path = log.consistency_proof(old, head.size).await.unwrap();
        proof::verify_consistency(old, head.size, &old_root, &head.root, &path).unwrap();
    }
    assert!(matches!(
        log.inclusion_proof(0, head.size + 1).await,
        Err(LogError::BeyondTree { .. })
    ));
    log.close().await;
    let (reopened, size) = fx.reopen_and_audit().await;
    assert_eq!(size, 1500);
    assert_eq!(*reopened.checkpoint(), *head);
}

/// Readers race the writer at the right edge, where each commit appends a part to the open
/// bundle and fills it every 256 entries: every entry below the published size must be
/// readable at every moment.
async fn entries_below_the_published_size_are_always_readable() {
    let fx = Fixture::new().await;
    let (log, _) = fx.create().await;
    let writer = {
        let log = log.clone();
        tokio::spawn(async move {
            // Small concurrent batches, so commits (and full bundles) are frequent.
            for round in 0..40u64 {
                append_many(&log, round * 20..(round + 1) * 20).await;
            }
        })
    };
    let mut reads = 0;
    while !writer.is_finished() {
        let size = log.checkpoint().size;
        if size == 0 {
            tokio::task::yield_now().await;
            continue;
        }
        let newest = log.entry(size - 1).await.unwrap();
        assert!(
            newest.is_some(),
            "entry {} of a {size}-entry log is missing",
            size - 1
        );
        reads += 1;
    }
    writer.await.unwrap();
    assert_eq!(log.checkpoint().size, 800);
    assert!(reads > 10, "only {reads} reads raced the writer");
}

/// The issuance log's mode: payloads that cannot repeat need no dedup index, so a repeat is
/// appended again and no index row is written for any entry.
async fn a_log_without_dedup_appends_repeats_and_keeps_no_index() {
    let fx = Fixture::new().await;
    let config = LogConfig {
        dedup: false,
        ..fx.config()
    };
    let store = fx.store().await;
    let log = Log::create(store.clone(), fx.key.clone(), config, Arc::new(Verbatim))
        .await
        .unwrap();
    let first = sequenced(log.append(entry(7)).await);
    let second = sequenced(log.append(entry(7)).await);
    assert_eq!((first.index, second.index), (0, 1));
    // Fifty identical payloads at once, so some share a batch: each gets its own index.
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let log = log.clone();
            tokio::spawn(async move { sequenced(log.append(entry(8)).await).index })
        })
        .collect();
    let mut indices = std::collections::BTreeSet::new();
    for t in tasks {
        indices.insert(t.await.unwrap());
    }
    assert_eq!(indices, (2..52).collect());
    assert_eq!(log.checkpoint().size, 52);
    assert_eq!(log.lookup(&leaf_hash(&entry(7))).await.unwrap(), None);
    log.close().await;
    let rows = store
        .lookup(
            LogSlot::ARTIFACTS,
            &[leaf_hash(&entry(7)), leaf_hash(&entry(8))],
        )
        .await
        .unwrap();
    assert_eq!(rows, vec![None, None]);
    // Tiles, bundles and checkpoint still verify; only the index check is skipped.
    let report = check_log(&store, LogSlot::ARTIFACTS, ORIGIN, &fx.key, false)
        .await
        .unwrap();
    assert_eq!(report.size, 52);
}

async fn a_duplicate_gets_the_existing_index_and_adds_nothing() {
    let fx = Fixture::new().await;
    let (log, _) = fx.create().await;
    let first = sequenced(log.append(entry(7)).await);
    let again = log.append(entry(7)).await.unwrap();
    assert!(
        matches!(again, Appended::Existing(r) if r.index == first.index && r.timestamp == first.timestamp)
    );
    // Identical payloads in one batch: one entry, the others told where it is.
    let twins: Vec<_> = (0..20)
        .map(|_| {
            let log = log.clone();
            tokio::spawn(async move { log.append(entry(8)).await.unwrap() })
        })
        .collect();
    let mut new = 0;
    for t in twins {
        if let Appended::New(_) = t.await.unwrap() {
            new += 1;
        }
    }
    assert_eq!(new, 1);
    assert_eq!(log.checkpoint().size, 2);
    assert_eq!(
        log.lookup(&leaf_hash(&entry(7)))
            .await
            .unwrap()
            .map(|r| r.index),
        Some(first.index)
    );
}

async fn oversized_entries_are_refused_before_sequencing() {
    let fx = Fixture::new().await;
    let (log, _) = fx.create().await;
    assert!(matches!(
        log.append(vec![0; 70_000]).await,
        Err(LogError::EntryTooLarge { .. })
    ));
    assert_eq!(log.checkpoint().size, 0);
}

/// After each injected fault: nothing acknowledged is lost, nothing half-written is visible,
/// the tree re-verifies from storage, the log keeps working, and a retry resolves to one entry.
async fn every_persistence_fault_leaves_a_consistent_log() {
    let fx = Fixture::new().await;
    let (log, store) = fx.create().await;
    let mut acked = append_many(&log, 0..300).await;
    let mut next = 300;
    for fault in [
        Fault::CommitFailsBeforeWrite,
        Fault::CommitFailsAfterWrite,
        Fault::LookupFails,
        Fault::CheckpointReadFails,
    ] {
        if fault == Fault::CheckpointReadFails {
            // The reloads after a failed commit are what read the checkpoint: fail the commit,
            // the reload right after it, and the retry of that reload before the next batch.
            store.arm(Fault::CommitFailsAfterWrite);
            store.arm(fault);
        }
        store.arm(fault);
        let failed = log.append(entry(next)).await;
        assert!(
            failed.is_err(),
            "{fault:?}: append must not be acknowledged, got {failed:?}"
        );

        let (_, size) = fx.reopen_and_audit().await;
        let persisted = matches!(
            fault,
            Fault::CommitFailsAfterWrite | Fault::CheckpointReadFails
        );
        assert_eq!(size, acked.len() as u64 + u64::from(persisted), "{fault:?}");
        assert_present(&log, &acked).await;

        if fault == Fault::CheckpointReadFails {
            // The reload before the next batch fails too: that batch is refused unacknowledged,
            // and the one after reloads successfully.
            assert!(matches!(
                log.append(entry(next)).await,
                Err(LogError::Storage(_))
            ));
            assert!(log.is_healthy());
        }
        // The client retries: exactly one copy ends up in the log.
        let retried_index = match log.append(entry(next)).await {
            Ok(Appended::Existing(r)) if persisted => r.index,
            Ok(Appended::New(s)) if !persisted => s.index,
            other => panic!("{fault:?}: unexpected retry result {other:?}"),
        };
        assert_eq!(log.entry(retried_index).await.unwrap(), Some(entry(next)));
        assert_eq!(log.checkpoint().size, acked.len() as u64 + 1);
        acked.push((next, retried_index));
        next += 1;

        acked.extend(append_many(&log, next..next + 50).await);
        next += 50;
        fx.reopen_and_audit().await;
    }
    assert!(log.is_healthy());
}

async fn a_failed_statement_inside_a_commit_leaves_nothing_visible() {
    let fx = Fixture::new().await;
    let (log, _) = fx.create().await;
    append_many(&log, 0..10).await;
    let before = log.checkpoint();
    let existing = log.lookup(&leaf_hash(&entry(3))).await.unwrap().unwrap();
    log.close().await;

    // The CAS succeeds, then the leaf insert violates uniqueness: the whole batch must roll back.
    let store = fx.store().await;
    let batch = Batch {
        previous: Some((before.size, before.root)),
        checkpoint: Some(StoredCheckpoint {
            size: before.size + 1,
            root: Hash([9; 32]),
            note: "forged\n".into(),
        }),
        tiles: vec![(TileId { level: 0, index: 0 }, vec![7; 32 * 11])],
        bundles: vec![],
        leaves: vec![existing],
    };
    assert!(matches!(
        store.commit(LogSlot::ARTIFACTS, &batch).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        store.checkpoint(LogSlot::ARTIFACTS).await.unwrap().as_ref(),
        Some(&*before)
    );
    fx.reopen_and_audit().await;
}

async fn a_full_pool_pushes_back_with_a_distinct_error() {
    let fx = Fixture::new().await;
    let store = FaultyStore::new(fx.store().await);
    let mut config = fx.config();
    config.max_pending = 4;
    config.max_batch = 1;
    let log = Log::create(store.clone(), fx.key.clone(), config, Arc::new(Verbatim))
        .await
        .unwrap();
    let gate = store.faults().hold_commits().await;
    let mut waiting = Vec::new();
    for i in 0..5 {
        let log = log.clone();
        waiting.push(tokio::spawn(async move { log.append(entry(i)).await }));
        tokio::task::yield_now().await;
    }
    // One entry is in the (blocked) commit, four wait in the pool: the next is refused.
    let refused = log.append(entry(99)).await.unwrap_err();
    assert!(
        matches!(refused, LogError::PoolFull { pending: 4 }),
        "{refused}"
    );
    assert!(refused.to_string().contains("busy"));
    drop(gate);
    for w in waiting {
        assert!(w.await.unwrap().is_ok());
    }
}

async fn close_commits_everything_admitted_then_refuses() {
    let fx = Fixture::new().await;
    let (log, _) = fx.create().await;
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move { (i, log.append(entry(i)).await) })
        })
        .collect();
    tokio::task::yield_now().await;
    log.close().await;
    let mut acked = Vec::new();
    for t in tasks {
        let (i, result) = t.await.unwrap();
        match result {
            Ok(Appended::New(s)) => acked.push((i, s.index)),
            Err(LogError::ShuttingDown) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(matches!(
        log.append(entry(1000)).await,
        Err(LogError::ShuttingDown)
    ));
    let (reopened, size) = fx.reopen_and_audit().await;
    assert_eq!(size, acked.len() as u64);
    assert_present(&reopened, &acked).await;
}

async fn a_different_key_cannot_open_the_log() {
    let fx = Fixture::new().await;
    let (log, _) = fx.create().await;
    sequenced(log.append(entry(1)).await);
    log.close().await;
    let err = Log::open(
        fx.store().await,
        LogKey::generate().unwrap(),
        fx.config(),
        Arc::new(Verbatim),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LogError::KeyMismatch(_)), "{err}");
    let mut other_origin = fx.config();
    other_origin.origin = "elsewhere.invalid".into();
    let err = Log::open(
        fx.store().await,
        fx.key.clone(),
        other_origin,
        Arc::new(Verbatim),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, LogError::KeyMismatch(_)), "{err}");
}

async fn partial_tiles_serve_every_earlier_width() {
    let fx = Fixture::new().await;
    let (log, _) = fx.create().await;
    append_many(&log, 0..10).await;
    let early = log
        .hash_tile(TileId { level: 0, index: 0 }, Some(10))
        .await
        .unwrap()
        .unwrap();
    append_many(&log, 10..300).await;
    assert_eq!(
        log.hash_tile(TileId { level: 0, index: 0 }, Some(10))
            .await
            .unwrap()
            .unwrap(),
        early
    );
    assert_eq!(
        log.hash_tile(TileId { level: 0, index: 0 }, None)
            .await
            .unwrap()
            .unwrap()
            .len(),
        256 * 32
    );
    assert!(
        log.hash_tile(TileId { level: 0, index: 1 }, Some(45))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        log.hash_tile(TileId { level: 0, index: 1 }, Some(44))
            .await
            .unwrap()
            .is_some()
    );
    assert!(log.entry_bundle(1, None).await.unwrap().is_none());
}

/// Refuses payloads that start with "bad"; stores the rest verbatim.
struct PickyCodec;

#[derive(Debug, thiserror::Error)]
#[error("this payload cannot be a leaf")]
struct Unencodable;

impl mayfly::log::LeafCodec for PickyCodec {
    fn encode(&self, _: u64, _: u64, payload: &[u8]) -> Result<Vec<u8>, mayfly::log::CodecError> {
        if payload.starts_with(b"bad") {
            return Err(Arc::new(Unencodable));
        }
        Ok(payload.to_vec())
    }
    fn overhead(&self) -> usize {
        0
    }
}

async fn an_entry_the_codec_refuses_takes_no_index_and_is_an_internal_fault() {
    let fx = Fixture::new().await;
    let store = FaultyStore::new(fx.store().await);
    let log = Log::create(
        store.clone(),
        fx.key.clone(),
        fx.config(),
        Arc::new(PickyCodec),
    )
    .await
    .unwrap();
    // One batch with a refused entry in the middle: held commits make them pile up together.
    let gate = store.faults().hold_commits().await;
    let mut tasks = Vec::new();
    for payload in [&b"good 1"[..], b"bad 2", b"good 3"] {
        let log = log.clone();
        let payload = payload.to_vec();
        tasks.push(tokio::spawn(async move { log.append(payload).await }));
        tokio::task::yield_now().await;
    }
    drop(gate);
    let mut indexes = Vec::new();
    for (task, payload) in tasks.into_iter().zip(["good 1", "bad 2", "good 3"]) {
        match task.await.unwrap() {
            Ok(Appended::New(s)) => indexes.push((s.index, payload)),
            Err(e) => {
                assert_eq!(payload, "bad 2");
                assert!(matches!(e, LogError::Codec(_)), "{e}");
                assert_eq!(e.fault(), mayfly::log::Fault::Internal);
            }
            other => panic!("{payload}: {other:?}"),
        }
    }
    indexes.sort();
    // Contiguous indices for what was accepted, and nothing in place of the refused entry.
    assert_eq!(
        indexes.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        (0..indexes.len() as u64).collect::<Vec<_>>()
    );
    assert_eq!(log.checkpoint().size, 2);
    for (index, payload) in &indexes {
        assert_eq!(
            log.entry(*index).await.unwrap().as_deref(),
            Some(payload.as_bytes())
        );
    }
    log.close().await;
    fx.reopen_and_audit().await;
}

async fn batched_inclusion_proofs_equal_single_ones() {
    let fx = Fixture::new().await;
    let (log, _) = fx.create().await;
    append_many(&log, 0..700).await;
    let size = log.checkpoint().size;
    // Scattered and neighbouring leaves, across tiles, against the current and an older size.
    for size in [size, 300] {
        let indexes: Vec<u64> = (0..size).step_by(7).chain([size - 1, 0]).collect();
        let batched = log.inclusion_proofs(&indexes, size).await.unwrap();
        assert_eq!(batched.len(), indexes.len());
        for (index, proof) in indexes.iter().zip(&batched) {
            assert_eq!(proof, &log.inclusion_proof(*index, size).await.unwrap());
        }
    }
    assert!(log.inclusion_proofs(&[size], size).await.is_err());
    assert!(log.inclusion_proofs(&[0], size + 1).await.is_err());
}

/// A log created with a genesis entry holds it at index 0 from its first checkpoint (size 1,
/// one commit), so the first client entry is at 1; the genesis entry has no dedup row, and the
/// audit and a reopen accept it. A log created without one (as before genesis entries existed)
/// keeps its first client entry at 0, and nothing takes that entry for genesis.
async fn a_genesis_log_starts_client_entries_at_one_and_an_old_log_at_zero() {
    let fx = Fixture::new().await;
    let store = fx.store().await;
    let log = Log::create(
        store.clone(),
        fx.key.clone(),
        LogConfig {
            genesis: true,
            ..fx.config()
        },
        Arc::new(Verbatim),
    )
    .await
    .unwrap();
    let genesis = mayfly_spec::tlog::genesis::entry(ORIGIN);
    let head = store.checkpoint(LogSlot::ARTIFACTS).await.unwrap().unwrap();
    assert_eq!(
        head.size, 1,
        "the first stored checkpoint already covers genesis"
    );
    assert_eq!(log.entry(0).await.unwrap(), Some(genesis.clone()));
    assert!(log.is_genesis(0).await.unwrap());
    assert_eq!(log.lookup(&leaf_hash(&genesis)).await.unwrap(), None);
    let first = sequenced(log.append(entry(1)).await);
    assert_eq!(first.index, 1);
    assert!(!log.is_genesis(1).await.unwrap());
    log.close().await;
    let (reopened, size) = fx.reopen_and_audit().await;
    assert_eq!(size, 2);
    assert!(reopened.is_genesis(0).await.unwrap());
    reopened.close().await;

    // The old way: no genesis entry. Index 0 is the client's, and is not genesis.
    let old = Fixture::new().await;
    let (log, _) = old.create().await;
    assert_eq!(log.checkpoint().size, 0);
    assert_eq!(sequenced(log.append(entry(1)).await).index, 0);
    assert!(!log.is_genesis(0).await.unwrap());
    log.close().await;
    let (reopened, size) = old.reopen_and_audit().await;
    assert_eq!(size, 1);
    assert!(!reopened.is_genesis(0).await.unwrap());
    reopened.close().await;
}
