//! The admission pool and the sequencing task: one sequencer per log and process, one
//! transaction per batch; replicas on one database take turns, and its compare-and-swap makes
//! sure that no two of them ever extend the same checkpoint.
//!
//! Crash and failure semantics, step by step:
//! 1. Entries wait in the pool in memory; nothing is promised yet.
//! 2. The sequencer takes its turn at the log ([`LogStore::begin_turn`]), which lasts until
//!    the commit, and catches up with the checkpoint read under it: replicas queue rather
//!    than race. The batch is appended to the tree in place (indices, tiles, bundles, signed
//!    checkpoint), keeping what undoing it takes.
//! 3. `commit` runs: on `Ok` the batch is durable and waiters wake. On `Err` the batch is
//!    undone from the tree first, and no waiter is told its entry was logged. It may still
//!    have become durable (an error reported after commit), so the sequencer reloads the tree
//!    from storage before the next batch; a client's retry then finds its entry by dedup key.
//! 4. A compare-and-swap conflict means another writer (a replica on the same database)
//!    advanced the log. The sequencer adopts what it wrote if, and only if, that is an
//!    extension of its own tree signed with the same key (see [`Sequencer::adopt`]), then
//!    retries the batch: entries the other writer logged meanwhile are answered as existing,
//!    the rest get new indices. A checkpoint that is not such an extension (another key, a
//!    smaller tree, another root at our size) would fork the log: the sequencer stops for good.
//! 5. Between batches the sequencer re-reads the stored checkpoint every
//!    [`LogConfig::follow_every`] and adopts it the same way, so a replica that is not writing
//!    still publishes (through the head watch channel) the log every replica writes.
//! 6. While other writers are active, a sequencer pauses a few milliseconds after each batch
//!    ([`Sequencer::make_way`]), so that where turns are not exclusive (processes sharing one
//!    SQLite file) a replica that lost the race can reload and win the next.

use super::storage::{Batch, LeafRecord, LogStore, StoredCheckpoint};
use super::tree::{Snapshot, Tree};
use super::{Appended, Inner, LogConfig, LogError, sign, verify_head};
use mayfly_spec::tlog::{Hash, leaf_hash};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, oneshot, watch};
use tokio::time::MissedTickBehavior;

/// Times a batch is tried against a log other replicas keep advancing before its appenders are
/// told to retry ([`LogError::NotCommitted`]). Each lost round means another replica committed
/// a batch meanwhile, so the log as a whole progressed; a bound keeps one appender's latency
/// bounded when it keeps losing.
const MAX_ATTEMPTS: usize = 16;

/// How long after last seeing another writer a sequencer keeps making way for others.
const OTHERS_ACTIVE: std::time::Duration = std::time::Duration::from_secs(1);

/// The pause between batches while other writers are active: about one reload and commit.
const MAKE_WAY: std::time::Duration = std::time::Duration::from_millis(5);

/// A newly sequenced entry: durable, with the checkpoint that covers it.
#[derive(Clone, Debug)]
pub struct Sequenced {
    pub index: u64,
    /// Integration time, Unix milliseconds; shared by the whole batch.
    pub timestamp: u64,
    pub checkpoint: Arc<StoredCheckpoint>,
    snapshot: Arc<Snapshot>,
}

impl Sequenced {
    /// The entry's inclusion proof against `checkpoint` (leaf to root).
    pub fn inclusion_proof(&self) -> Result<Vec<Hash>, LogError> {
        self.snapshot.inclusion_proof(self.index)
    }
}

type Reply = oneshot::Sender<Result<Appended, LogError>>;

struct Pending {
    payload: Vec<u8>,
    /// The dedup key; `None` in a log without dedup.
    key: Option<Hash>,
    reply: Reply,
}

struct PoolState {
    pending: Vec<Pending>,
    bytes: usize,
    closed: bool,
}

pub(super) struct Pool {
    state: std::sync::Mutex<PoolState>,
    wake: Notify,
    running: AtomicBool,
    max_pending: usize,
    max_pending_bytes: usize,
    max_batch: usize,
    dedup: bool,
}

impl Pool {
    pub(super) fn new(config: &LogConfig) -> Self {
        Pool {
            state: std::sync::Mutex::new(PoolState {
                pending: Vec::new(),
                bytes: 0,
                closed: false,
            }),
            wake: Notify::new(),
            running: AtomicBool::new(true),
            max_pending: config.max_pending,
            max_pending_bytes: config.max_pending_bytes,
            max_batch: config.max_batch.max(1),
            dedup: config.dedup,
        }
    }

    // The pool lock is a std mutex: it is never held across an await and its critical sections
    // are a push or a swap. A poisoned lock only means another appender panicked mid-push;
    // the Vec is still valid, so recover it rather than take the log down.
    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn submit(
        &self,
        payload: Vec<u8>,
    ) -> Result<oneshot::Receiver<Result<Appended, LogError>>, LogError> {
        // Hash outside the lock: it is the only per-entry work an appender does.
        let key = self.dedup.then(|| leaf_hash(&payload));
        let (tx, rx) = oneshot::channel();
        {
            let mut state = self.lock();
            if state.closed {
                return Err(LogError::ShuttingDown);
            }
            if state.pending.len() >= self.max_pending
                || state.bytes + payload.len() > self.max_pending_bytes
            {
                metrics::counter!("mayfly_log_pool_full_total").increment(1);
                return Err(LogError::PoolFull {
                    pending: state.pending.len(),
                });
            }
            state.bytes += payload.len();
            state.pending.push(Pending {
                payload,
                key,
                reply: tx,
            });
        }
        self.wake.notify_one();
        Ok(rx)
    }

    pub(super) fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_one();
    }

    pub(super) fn is_running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    /// Waits for work; `None` once closed and drained.
    async fn next_batch(&self) -> Option<Vec<Pending>> {
        loop {
            {
                let mut state = self.lock();
                if !state.pending.is_empty() {
                    let take = state.pending.len().min(self.max_batch);
                    let batch: Vec<Pending> = state.pending.drain(..take).collect();
                    state.bytes -= batch.iter().map(|p| p.payload.len()).sum::<usize>();
                    return Some(batch);
                }
                if state.closed {
                    return None;
                }
            }
            // notify_one stores a permit when nobody waits, so a wake between the check above
            // and this await is not lost.
            self.wake.notified().await;
        }
    }
}

struct Sequencer<S: LogStore> {
    inner: Arc<Inner<S>>,
    tree: Tree,
    head: StoredCheckpoint,
    head_tx: watch::Sender<Arc<StoredCheckpoint>>,
    last_timestamp: u64,
    /// Set after a failed commit: storage must be re-read before the next batch. Holds the
    /// checkpoint that batch tried to write, the only advance of the log we may adopt.
    in_doubt: Option<StoredCheckpoint>,
    /// Set when continuing could fork the log.
    stopped: Option<String>,
    /// When another writer was last seen: a lost compare-and-swap or an adopted checkpoint.
    others_seen: Option<Instant>,
}

pub(super) fn spawn<S: LogStore>(
    inner: Arc<Inner<S>>,
    tree: Tree,
    head: StoredCheckpoint,
    head_tx: watch::Sender<Arc<StoredCheckpoint>>,
    done: oneshot::Sender<()>,
) {
    metrics::gauge!("mayfly_log_tree_size", "log" => inner.config.name).set(head.size as f64);
    let mut seq = Sequencer {
        inner,
        tree,
        head,
        head_tx,
        last_timestamp: 0,
        in_doubt: None,
        stopped: None,
        others_seen: None,
    };
    tokio::spawn(async move {
        let inner = seq.inner.clone();
        let mut follow = inner.config.follow_every.map(|every| {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            ticks
        });
        loop {
            let tick = async {
                match follow.as_mut() {
                    Some(ticks) => {
                        ticks.tick().await;
                    }
                    None => std::future::pending().await,
                }
            };
            // Both branches are cancel-safe: `next_batch` takes entries only when it returns,
            // and a dropped tick is just a skipped poll.
            tokio::select! {
                batch = inner.pool.next_batch() => match batch {
                    Some(batch) => {
                        seq.run_batch(batch).await;
                        seq.make_way().await;
                    }
                    None => break,
                },
                () = tick => seq.follow().await,
            }
        }
        tracing::info!(
            log = seq.inner.config.name,
            size = seq.head.size,
            "sequencer drained and stopped"
        );
        let _ = done.send(());
    });
}

impl<S: LogStore> Sequencer<S> {
    async fn run_batch(&mut self, batch: Vec<Pending>) {
        if let Some(reason) = &self.stopped {
            return fail_all(batch, &LogError::Stopped(reason.clone()));
        }
        if self.in_doubt.is_some()
            && let Err(e) = self.reload().await
        {
            tracing::error!(log = self.inner.config.name, error = %e, "reload from storage failed");
            return fail_all(batch, &e);
        }
        // Lock, then read: while the turn lasts no other replica commits, so the checkpoint
        // read under it is the one this batch extends and the attempt below normally wins.
        let turn = match self.inner.store.begin_turn(self.inner.config.slot).await {
            Ok((turn, stored)) => match self.catch_up(stored).await {
                Ok(()) => turn,
                Err(e) => return fail_all(batch, &e),
            },
            Err(e) => {
                tracing::warn!(log = self.inner.config.name, error = %e, "cannot take a turn at the log");
                return fail_all(batch, &e.into());
            }
        };
        self.attempt(batch).await;
        drop(turn);
    }

    /// Dedups and commits `batch`, again after each compare-and-swap lost to a writer that
    /// took no turn, up to [`MAX_ATTEMPTS`] times.
    async fn attempt(&mut self, batch: Vec<Pending>) {
        let mut batch = batch;
        for attempt in 1..=MAX_ATTEMPTS {
            // Deduplicated on every attempt: what another replica logged since the last one is
            // answered with its index instead of being logged twice.
            let fresh = match self.dedup(batch).await {
                Ok(fresh) => fresh,
                Err((e, batch)) => return fail_all(batch, &e),
            };
            if fresh.is_empty() {
                return;
            }
            let Some(lost) = self.integrate(fresh).await else {
                return;
            };
            metrics::counter!("mayfly_log_conflicts_total", "log" => self.inner.config.name)
                .increment(1);
            self.others_seen = Some(Instant::now());
            if let Err(e) = self.reload().await {
                tracing::warn!(log = self.inner.config.name, error = %e, "cannot follow the writer that advanced the log");
                return fail_fresh(lost, &e);
            }
            if attempt == MAX_ATTEMPTS {
                tracing::warn!(
                    log = self.inner.config.name,
                    attempts = MAX_ATTEMPTS,
                    "other replicas advanced the log before every attempt of this batch; its appenders retry"
                );
                return fail_fresh(lost, &LogError::NotCommitted);
            }
            batch = lost
                .into_iter()
                .flat_map(|(p, twins)| std::iter::once(p).chain(twins))
                .collect();
        }
    }

    /// While other writers are active, pauses briefly between batches. A writer that lost the
    /// compare-and-swap must reload before it tries again, and the one that won would otherwise
    /// start its next batch at once and win again: under steady load the loser's appenders
    /// would wait until its attempts run out. The pause is the loser's chance; alone on the
    /// database a sequencer never pauses.
    async fn make_way(&self) {
        if self
            .others_seen
            .is_some_and(|seen| seen.elapsed() < OTHERS_ACTIVE)
        {
            tokio::time::sleep(MAKE_WAY).await;
        }
    }

    /// Adopts a checkpoint another replica committed, if storage has one: called between
    /// batches, so the published head follows the log even when this process does not write.
    async fn follow(&mut self) {
        if self.stopped.is_some() {
            return;
        }
        if let Err(e) = self.reload().await {
            // Stopping was logged by `adopt`; anything else (the database busy or gone for a
            // moment) is retried at the next tick, and the head stays the last verified one.
            tracing::warn!(log = self.inner.config.name, error = %e, "cannot re-read the stored checkpoint");
        }
    }

    /// Answers payloads already in the log (or earlier in this batch) and returns the rest.
    async fn dedup(
        &self,
        batch: Vec<Pending>,
    ) -> Result<Vec<(Pending, Vec<Pending>)>, (LogError, Vec<Pending>)> {
        if !self.inner.config.dedup {
            return Ok(batch.into_iter().map(|p| (p, Vec::new())).collect());
        }
        // Every pending entry has a key in a dedup log (`Pool::submit`).
        let keys: Vec<Hash> = batch.iter().filter_map(|p| p.key).collect();
        let found = match self.inner.store.lookup(self.inner.config.slot, &keys).await {
            Ok(found) => found,
            Err(e) => return Err((e.into(), batch)),
        };
        let mut fresh: Vec<(Pending, Vec<Pending>)> = Vec::with_capacity(batch.len());
        let mut position: HashMap<Hash, usize> = HashMap::new();
        for (p, existing) in batch.into_iter().zip(found) {
            if let Some(record) = existing {
                let _ = p.reply.send(Ok(Appended::Existing(record)));
            } else if let Some(&i) = p.key.as_ref().and_then(|k| position.get(k)) {
                fresh[i].1.push(p);
            } else {
                if let Some(key) = p.key {
                    position.insert(key, fresh.len());
                }
                fresh.push((p, Vec::new()));
            }
        }
        Ok(fresh)
    }

    /// Sequences and commits `fresh`, answering every appender, except when another writer
    /// advanced the log first: then nothing was written or answered and the entries are handed
    /// back for another attempt.
    async fn integrate(
        &mut self,
        fresh: Vec<(Pending, Vec<Pending>)>,
    ) -> Option<Vec<(Pending, Vec<Pending>)>> {
        let started = Instant::now();
        let config = &self.inner.config;
        let timestamp = now_millis().max(self.last_timestamp);
        let first = self.tree.size();
        // An entry the codec refuses takes no index: its appenders get the error and the rest
        // of the batch is numbered without a gap.
        let mut entries: Vec<(Hash, Vec<u8>)> = Vec::with_capacity(fresh.len());
        let mut accepted = Vec::with_capacity(fresh.len());
        for (p, twins) in fresh {
            let index = first + entries.len() as u64;
            match self.inner.codec.encode(index, timestamp, &p.payload) {
                Ok(entry) => {
                    entries.push((leaf_hash(&entry), entry));
                    accepted.push((p, twins));
                }
                Err(e) => {
                    tracing::error!(log = config.name, index, error = %e, "entry refused by the leaf codec");
                    fail_fresh(vec![(p, twins)], &LogError::Codec(e));
                }
            }
        }
        let fresh = accepted;
        if fresh.is_empty() {
            return None;
        }
        // Everything that goes wrong while building the batch is this process's fault, never the
        // appenders': even a range error from the tile arithmetic.
        let internal = |e: LogError| match e {
            LogError::BadRange(e) => LogError::Batch(e),
            other => other,
        };
        // The tree takes the batch in place; every way out below that does not commit puts it
        // back with `undo`.
        let prepared = self
            .tree
            .append_undoable(entries.iter().map(|(h, e)| (*h, e.as_slice())))
            .map_err(LogError::Batch)
            .and_then(|(mut changes, undo)| {
                let tiles = std::mem::take(&mut changes.tiles);
                let bundles = std::mem::take(&mut changes.bundles);
                let snapshot = self.tree.snapshot(changes);
                let signed = snapshot.root().map_err(internal).and_then(|root| {
                    let note = sign(&self.inner.key, &config.origin, self.tree.size(), root)?;
                    Ok(StoredCheckpoint {
                        size: self.tree.size(),
                        root,
                        note,
                    })
                });
                match signed {
                    Ok(checkpoint) => Ok((snapshot, tiles, bundles, checkpoint, undo)),
                    Err(e) => {
                        self.tree.undo(undo);
                        Err(e)
                    }
                }
            });
        let (snapshot, tiles, bundles, checkpoint, undo) = match prepared {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(log = config.name, error = %e, "cannot build batch");
                fail_fresh(fresh, &e);
                return None;
            }
        };
        let leaves = fresh
            .iter()
            .enumerate()
            .filter_map(|(i, (p, _))| {
                Some(LeafRecord {
                    key: p.key?,
                    index: first + i as u64,
                    timestamp,
                })
            })
            .collect();
        let batch = Batch {
            previous: Some((self.head.size, self.head.root)),
            checkpoint: Some(checkpoint.clone()),
            tiles,
            bundles,
            leaves,
        };
        let committed = self.inner.store.commit(config.slot, &batch).await;
        if committed.is_err() {
            self.tree.undo(undo);
        }
        match committed {
            Ok(()) => {}
            Err(super::StoreError::Conflict) => {
                tracing::debug!(
                    log = config.name,
                    size = self.head.size,
                    "another writer advanced the log first"
                );
                return Some(fresh);
            }
            Err(e) => {
                tracing::error!(log = config.name, error = %e, "batch commit failed; reloading from storage");
                self.in_doubt = batch.checkpoint;
                // Reload before answering, so that a client told "not committed" who looks finds
                // a commit that did land, rather than waiting for another append to reveal it.
                // If storage is still failing, the next batch retries before it writes anything.
                if let Err(e) = self.reload().await {
                    tracing::warn!(log = self.inner.config.name, error = %e, "reload after a failed commit failed; retrying before the next batch");
                }
                fail_fresh(fresh, &LogError::NotCommitted);
                return None;
            }
        }
        self.head = checkpoint;
        self.last_timestamp = timestamp;
        let head = Arc::new(self.head.clone());
        self.head_tx.send_replace(head.clone());
        let snapshot = Arc::new(snapshot);
        metrics::histogram!("mayfly_log_batch_entries", "log" => config.name)
            .record(fresh.len() as f64);
        metrics::histogram!("mayfly_log_batch_seconds", "log" => config.name)
            .record(started.elapsed().as_secs_f64());
        metrics::counter!("mayfly_log_appends_total", "log" => config.name)
            .increment(fresh.len() as u64);
        metrics::gauge!("mayfly_log_tree_size", "log" => config.name).set(self.head.size as f64);
        for (i, (p, twins)) in fresh.into_iter().enumerate() {
            let index = first + i as u64;
            // Twins exist only in a dedup log, where every entry has a key.
            if let Some(key) = p.key {
                let record = LeafRecord {
                    key,
                    index,
                    timestamp,
                };
                for twin in twins {
                    let _ = twin.reply.send(Ok(Appended::Existing(record)));
                }
            }
            let sequenced = Sequenced {
                index,
                timestamp,
                checkpoint: head.clone(),
                snapshot: snapshot.clone(),
            };
            let _ = p.reply.send(Ok(Appended::New(sequenced)));
        }
        None
    }

    /// Re-reads the stored checkpoint and, if it is not ours, adopts it: after a failed
    /// commit (which may have landed), a lost compare-and-swap, or a follow tick.
    async fn reload(&mut self) -> Result<(), LogError> {
        let stored = self.inner.store.checkpoint(self.inner.config.slot).await?;
        self.catch_up(stored).await
    }

    /// Adopts `stored`, the checkpoint just read from storage, if it is not ours.
    async fn catch_up(&mut self, stored: Option<StoredCheckpoint>) -> Result<(), LogError> {
        let config = &self.inner.config;
        let stored = stored.ok_or(LogError::Missing(config.name))?;
        if stored != self.head {
            if Some(&stored) == self.in_doubt.as_ref() {
                tracing::warn!(
                    log = config.name,
                    size = stored.size,
                    "a batch reported as failed had been committed"
                );
            } else {
                self.others_seen = Some(Instant::now());
            }
            self.adopt(stored).await?;
        }
        self.in_doubt = None;
        Ok(())
    }

    /// Moves the tree and the published head to `stored`, a checkpoint another writer (or a
    /// commit reported as failed) left in storage, if it extends ours: signed with this log's
    /// key for this origin, at least our size, and with stored tiles that hash both to its root
    /// at its size and to our root at our size. Anything else would fork the log or roll it
    /// back (a foreign key, a smaller tree, another root at our size): the sequencer stops for
    /// good and the last verified head stays published. A failed read changes nothing.
    async fn adopt(&mut self, stored: StoredCheckpoint) -> Result<(), LogError> {
        let config = &self.inner.config;
        let store = &self.inner.store;
        if let Err(e) = verify_head(&self.inner.key, config, &stored) {
            return Err(self.stop(format!("{e}; another writer with other keys is active")));
        }
        if stored.size < self.head.size {
            return Err(self.stop(format!(
                "the {} log's stored checkpoint went back from size {} to {}: a rollback",
                config.name, self.head.size, stored.size
            )));
        }
        if stored.size == self.head.size && stored.root != self.head.root {
            return Err(self.stop(format!(
                "the {} log's stored checkpoint has another root at size {} ({} where this process signed {}): a fork",
                config.name, stored.size, stored.root, self.head.root
            )));
        }
        let tree = Tree::load(store, config.slot, stored.size).await?;
        let root = tree.snapshot(Default::default()).root().map_err(|e| {
            LogError::Inconsistent(format!("the {} log's stored tiles: {e}", config.name))
        })?;
        if root != stored.root {
            return Err(LogError::Inconsistent(format!(
                "the {} log's stored tiles hash to {root}, not to its checkpoint root {} at size {}",
                config.name, stored.root, stored.size
            )));
        }
        if stored.size > self.head.size {
            // Read from storage alone, never from tiles this process remembers: the question
            // is what the database now holds.
            let ours = super::tree::read_root(store, config.slot, None, self.head.size).await?;
            if ours != self.head.root {
                return Err(self.stop(format!(
                    "the {} log's stored tree of size {} does not contain the tree of size {} this process published (root {ours} where it signed {}): a fork",
                    config.name, stored.size, self.head.size, self.head.root
                )));
            }
        }
        metrics::counter!("mayfly_log_adopted_checkpoints_total", "log" => config.name)
            .increment(1);
        metrics::gauge!("mayfly_log_tree_size", "log" => config.name).set(stored.size as f64);
        tracing::debug!(
            log = config.name,
            from = self.head.size,
            to = stored.size,
            "adopted a checkpoint another writer committed"
        );
        self.tree = tree;
        self.head = stored;
        self.head_tx.send_replace(Arc::new(self.head.clone()));
        Ok(())
    }

    /// Stops sequencing for good: continuing could fork the log.
    fn stop(&mut self, reason: String) -> LogError {
        tracing::error!(
            log = self.inner.config.name,
            "{reason}; this process will not write to the log again"
        );
        self.stopped = Some(reason.clone());
        self.inner.pool.running.store(false, Ordering::Relaxed);
        LogError::Stopped(reason)
    }
}

fn fail_all(batch: Vec<Pending>, error: &LogError) {
    for p in batch {
        let _ = p.reply.send(Err(error.clone()));
    }
}

fn fail_fresh(fresh: Vec<(Pending, Vec<Pending>)>, error: &LogError) {
    for (p, twins) in fresh {
        fail_all(twins, error);
        let _ = p.reply.send(Err(error.clone()));
    }
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
