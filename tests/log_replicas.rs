//! Several sequencers on one database, as replicas run them: each its own connections (as
//! separate processes have), the same key and origin. The log never forks, every acknowledged
//! entry is in it exactly once, dedup holds across sequencers, idle ones follow the log, and a
//! checkpoint that does not extend a sequencer's own (another key, a rollback, a fork) stops it.
//! Every test runs on SQLite and on PostgreSQL (tests/support/backend.rs).

#[path = "support/backend.rs"]
mod backend;

use backend::{Backend, Database};
use mayfly::log::audit::check_log;
use mayfly::log::key::LogKey;
use mayfly::log::storage::{Batch, LogSlot, LogStore, StoredCheckpoint};
use mayfly::log::{Appended, Log, LogConfig, LogError, Verbatim};
use mayfly::storage::Store;
use mayfly_spec::tlog::Hash;
use mayfly_spec::tlog::checkpoint::{Checkpoint, sign_checkpoint};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

on_both_backends!(
    three_sequencers_appending_at_once_never_fork_and_log_each_entry_once(
        flavor = "multi_thread",
        worker_threads = 4
    ),
    an_idle_replica_publishes_what_another_committed,
    a_checkpoint_that_does_not_extend_the_log_stops_the_sequencer,
    an_idle_replica_stops_following_a_forged_checkpoint,
);

const ORIGIN: &str = "replicas.mayfly.invalid";
const SLOT: LogSlot = LogSlot::ARTIFACTS;

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
            // Small batches make the sequencers interleave, and conflict, often.
            max_batch: 16,
            ..LogConfig::new("test", SLOT, ORIGIN)
        }
    }

    /// A store with its own connections, as another process would open it.
    async fn store(&self) -> Store {
        self.db.open().await
    }

    async fn create(&self) -> Log<Store> {
        Log::create(
            self.store().await,
            self.key.clone(),
            self.config(),
            Arc::new(Verbatim),
        )
        .await
        .unwrap()
    }

    async fn replica(&self) -> Log<Store> {
        Log::open(
            self.store().await,
            self.key.clone(),
            self.config(),
            Arc::new(Verbatim),
        )
        .await
        .unwrap()
    }

    /// Re-verifies everything stored (every tile, entry and dedup row against the checkpoint).
    async fn audit(&self) -> u64 {
        check_log(&self.store().await, SLOT, ORIGIN, &self.key, true)
            .await
            .unwrap()
            .size
    }
}

fn entry(i: u64) -> Vec<u8> {
    format!("replicated entry {i}").into_bytes()
}

/// Appends `entry(i)` for every i through `log`, concurrently; returns (i, answer).
fn spawn_appends(
    log: &Log<Store>,
    items: impl IntoIterator<Item = u64>,
) -> Vec<tokio::task::JoinHandle<(u64, Result<Appended, LogError>)>> {
    items
        .into_iter()
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move { (i, log.append(entry(i)).await) })
        })
        .collect()
}

/// Waits until `log` publishes a checkpoint of at least `size` (it follows the stored one).
async fn wait_for_size(log: &Log<Store>, size: u64) -> Arc<StoredCheckpoint> {
    let mut heads = log.watch();
    tokio::time::timeout(Duration::from_secs(5), heads.wait_for(|h| h.size >= size))
        .await
        .expect("the idle replica follows within a few ticks")
        .unwrap()
        .clone()
}

async fn three_sequencers_appending_at_once_never_fork_and_log_each_entry_once() {
    let fx = Fixture::new().await;
    let logs = [fx.create().await, fx.replica().await, fx.replica().await];
    // Each sequencer gets its own 150 entries, and entries 1000..1050 are sent to all three:
    // dedup must log each of those once, wherever it lands first.
    let mut tasks = Vec::new();
    for (n, log) in logs.iter().enumerate() {
        let own = (n as u64 * 150)..(n as u64 + 1) * 150;
        tasks.extend(spawn_appends(log, own.chain(1000..1050)));
    }
    let mut new: BTreeMap<u64, u64> = BTreeMap::new();
    let mut existing: Vec<(u64, u64)> = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (i, Ok(Appended::New(s))) => {
                assert!(
                    new.insert(s.index, i).is_none(),
                    "index {} given twice",
                    s.index
                );
            }
            (i, Ok(Appended::Existing(r))) => existing.push((i, r.index)),
            (i, Err(e)) => panic!("entry {i}: {e}"),
        }
    }
    assert_eq!(
        new.len(),
        450 + 50,
        "every distinct entry is new exactly once"
    );
    assert_eq!(existing.len(), 100, "the other two copies of 1000..1050");
    let by_entry: BTreeMap<u64, u64> = new.iter().map(|(index, i)| (*i, *index)).collect();
    for (i, index) in existing {
        assert_eq!(by_entry[&i], index, "a duplicate points at the one entry");
    }

    // The stored log is one tree holding exactly the acknowledged entries at their indices.
    assert_eq!(fx.audit().await, 500);
    for log in &logs {
        let head = wait_for_size(log, 500).await;
        assert!(log.is_healthy());
        assert_eq!(head.size, 500);
    }
    let heads: HashSet<_> = logs.iter().map(|l| l.checkpoint().root).collect();
    assert_eq!(heads.len(), 1, "every replica publishes the same tree");
    for (index, i) in &new {
        assert_eq!(
            logs[(*index % 3) as usize].entry(*index).await.unwrap(),
            Some(entry(*i)),
            "entry {i} at {index}"
        );
    }
    let written: u64 = new.len() as u64;
    assert_eq!(logs[0].checkpoint().size, written);
}

async fn an_idle_replica_publishes_what_another_committed() {
    let fx = Fixture::new().await;
    let writer = fx.create().await;
    let reader = fx.replica().await;
    let mut acked = Vec::new();
    for task in spawn_appends(&writer, 0..40) {
        if let (_, Ok(Appended::New(s))) = task.await.unwrap() {
            acked.push(s.index);
        }
    }
    let head = wait_for_size(&reader, 40).await;
    assert_eq!(*head, *writer.checkpoint());
    // Its proofs and reads are of the tree it now publishes.
    for index in acked {
        assert!(reader.entry(index).await.unwrap().is_some());
        assert_eq!(
            reader.inclusion_proof(index, 40).await.unwrap(),
            writer.inclusion_proof(index, 40).await.unwrap()
        );
    }
    // And it writes on top of it.
    match reader.append(entry(99)).await.unwrap() {
        Appended::New(s) => assert_eq!(s.index, 40),
        other => panic!("{other:?}"),
    }
    assert_eq!(fx.audit().await, 41);
}

/// A checkpoint signed by `key` for (`size`, `root`) under the fixture's origin.
fn signed(key: &LogKey, size: u64, root: Hash) -> StoredCheckpoint {
    let cp = Checkpoint {
        origin: ORIGIN.to_owned(),
        size,
        root,
        extensions: vec![],
    };
    let note = sign_checkpoint(&cp, &key.note_signer(ORIGIN).unwrap())
        .unwrap()
        .note;
    StoredCheckpoint { size, root, note }
}

async fn a_checkpoint_that_does_not_extend_the_log_stops_the_sequencer() {
    for case in ["another key", "rollback", "fork"] {
        let fx = Fixture::new().await;
        let log = fx.create().await;
        for task in spawn_appends(&log, 0..5) {
            task.await.unwrap().1.unwrap();
        }
        let early = match log.append(entry(5)).await.unwrap() {
            Appended::New(s) => s.checkpoint,
            other => panic!("{other:?}"),
        };
        log.append(entry(6)).await.unwrap();
        let head = log.checkpoint();
        let intruder = match case {
            // Another writer's key: the next tree, as far as anyone can tell, but not ours.
            "another key" => signed(&LogKey::generate().unwrap(), head.size + 1, Hash([7; 32])),
            // Our own earlier checkpoint put back.
            "rollback" => (*early).clone(),
            // Our key, our size, another tree.
            _ => signed(&fx.key, head.size, Hash([9; 32])),
        };
        // Written as a writer would: by compare-and-swap on the current checkpoint.
        let batch = Batch {
            previous: Some((head.size, head.root)),
            checkpoint: Some(intruder),
            ..Default::default()
        };
        fx.store().await.commit(SLOT, &batch).await.unwrap();

        let refused = log.append(entry(100)).await;
        assert!(
            matches!(&refused, Err(LogError::Stopped(_))),
            "{case}: {refused:?}"
        );
        assert!(!log.is_healthy(), "{case}");
        assert!(matches!(
            log.append(entry(101)).await,
            Err(LogError::Stopped(_))
        ));
        assert_eq!(
            *log.checkpoint(),
            *head,
            "{case}: the last verified checkpoint stays published"
        );
    }
}

async fn an_idle_replica_stops_following_a_forged_checkpoint() {
    let fx = Fixture::new().await;
    let writer = fx.create().await;
    let reader = fx.replica().await;
    writer.append(entry(1)).await.unwrap();
    wait_for_size(&reader, 1).await;
    let head = writer.checkpoint();
    let forged = signed(&LogKey::generate().unwrap(), 2, Hash([3; 32]));
    let batch = Batch {
        previous: Some((head.size, head.root)),
        checkpoint: Some(forged),
        ..Default::default()
    };
    fx.store().await.commit(SLOT, &batch).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while reader.is_healthy() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the follower never noticed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(*reader.checkpoint(), *head);
}
