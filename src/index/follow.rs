//! The indexer: one task per log that follows its committed entries, and the offline rebuild.

use super::{IndexBatch, IndexStore, IndexedEntry, extract};
use crate::log::storage::{LogSlot, LogStore, StoreError};
use crate::log::{Log, LogError};
use mayfly_spec::tlog::tile::{self, TILE_WIDTH};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// After a failed step (the database busy or failing), wait this long before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// After a new checkpoint, wait this long before indexing it, so that the checkpoints of a
/// busy log are indexed a few bundles' worth at a time rather than one transaction each. With
/// replicas on one database every replica's indexer follows the same log: fewer, later
/// attempts also leave the database's write lock to the sequencers and let one indexer's
/// progress be seen by the others before they try the same entries. Search results lag the
/// log by about this much more, which nothing depends on (design.md §4).
const INDEX_PACE: Duration = Duration::from_millis(200);

/// Entries indexed per transaction, in whole entry bundles (so up to a bundle more). Large,
/// because every transaction rewrites the pages it touches, and a batch's new digests land on
/// random pages of the terms table: sixteen bundles per transaction instead of one took about
/// 7 % of server CPU off each dsse entry under load and let the index keep up with the log
/// (BENCHMARKS.md, issue 16, third round). A losing replica's indexer redoes at most this much.
const ENTRIES_PER_TRANSACTION: usize = 16 * TILE_WIDTH as usize;

/// The entry extractor for a log's slot.
fn extractor(slot: LogSlot) -> fn(u64, &[u8]) -> (IndexedEntry, Option<String>) {
    if slot == LogSlot::ISSUANCE {
        extract::certificate
    } else {
        extract::artifact
    }
}

/// Indexes `slot`'s entries from the stored position up to `size` (a committed checkpoint
/// size), up to [`ENTRIES_PER_TRANSACTION`] entries (whole entry bundles) per transaction;
/// `progress` sees each new position and says whether to go on (a stopping server does not
/// wait for a long catch-up). Returns the position reached.
pub(crate) async fn catch_up<S: LogStore + IndexStore>(
    store: &S,
    slot: LogSlot,
    size: u64,
    mut progress: impl FnMut(u64) -> bool,
) -> Result<u64, LogError> {
    let extract = extractor(slot);
    let mut position = store.index_position(slot).await?;
    while position < size {
        let mut batch = IndexBatch {
            from: position,
            to: position,
            entries: Vec::new(),
        };
        while batch.to < size && batch.entries.len() < ENTRIES_PER_TRANSACTION {
            add_bundle(store, slot, size, extract, &mut batch).await?;
        }
        store.index_add(slot, &batch).await?;
        position = batch.to;
        if !progress(position) {
            break;
        }
    }
    Ok(position)
}

/// Extends `batch` with the committed entries of the entry bundle holding `batch.to`, up to
/// `size`.
async fn add_bundle<S: LogStore>(
    store: &S,
    slot: LogSlot,
    size: u64,
    extract: fn(u64, &[u8]) -> (IndexedEntry, Option<String>),
    batch: &mut IndexBatch,
) -> Result<(), LogError> {
    let bundle = batch.to / TILE_WIDTH;
    let data = store.entry_bundle(slot, bundle).await?.ok_or_else(|| {
        LogError::Inconsistent(format!(
            "entry bundle {bundle} of a committed entry is missing"
        ))
    })?;
    let entries = tile::split_entries(&data).map_err(|e| LogError::Inconsistent(e.to_string()))?;
    let end = size.min(bundle * TILE_WIDTH + entries.len() as u64);
    if end <= batch.to {
        return Err(LogError::Inconsistent(format!(
            "entry bundle {bundle} ends before committed entry {}",
            batch.to
        )));
    }
    for index in batch.to..end {
        let (entry, problem) = extract(index, entries[(index % TILE_WIDTH) as usize]);
        if let Some(problem) = problem {
            tracing::warn!(log = slot.0, index, %problem, "indexed an entry without search terms");
        }
        batch.entries.push(entry);
    }
    batch.to = end;
    Ok(())
}

/// What a rebuild indexed, per log: (name, entries).
pub type RebuildReport = Vec<(&'static str, u64)>;

/// Empties the index and refills it from the logs' committed entries, up to each log's stored
/// checkpoint. Meant for a stopped instance (`mayfly index rebuild`), but a running indexer
/// (this instance's, or another replica's) may race it: positions move by compare-and-swap,
/// so whichever adds a range first wins it, and the rebuild goes on from the position the
/// winner left rather than failing.
pub async fn rebuild<S: LogStore + IndexStore>(store: &S) -> Result<RebuildReport, LogError> {
    store.index_clear().await?;
    let mut report = Vec::new();
    for (name, slot) in [
        ("issuance", LogSlot::ISSUANCE),
        ("artifacts", LogSlot::ARTIFACTS),
    ] {
        let size = store.checkpoint(slot).await?.map_or(0, |cp| cp.size);
        let reached = loop {
            match catch_up(store, slot, size, |_| true).await {
                Err(e) if is_conflict(&e) => continue,
                reached => break reached?,
            }
        };
        report.push((name, reached));
    }
    Ok(report)
}

/// Another indexer added the entries of this transaction first; nothing of it was written.
fn is_conflict(error: &LogError) -> bool {
    matches!(error, LogError::Storage(e) if matches!(**e, StoreError::Conflict))
}

/// The running indexer of both logs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Indexer {
    positions: Arc<[(LogSlot, watch::Receiver<u64>)]>,
    stop: Arc<watch::Sender<bool>>,
    tasks: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Indexer {
    /// Starts following `logs` (each from its stored index position).
    pub fn start<S: LogStore + IndexStore>(logs: &[&Log<S>]) -> Indexer {
        metrics::describe_gauge!(
            "mayfly_index_lag_entries",
            "committed log entries the search index does not hold yet, per log"
        );
        let (stop, _) = watch::channel(false);
        let mut positions = Vec::new();
        let mut tasks = Vec::new();
        for log in logs {
            let (tx, rx) = watch::channel(0);
            positions.push((log.config().slot, rx));
            tasks.push(tokio::spawn(follow((*log).clone(), tx, stop.subscribe())));
        }
        Indexer {
            positions: positions.into(),
            stop: Arc::new(stop),
            tasks: Arc::new(std::sync::Mutex::new(tasks)),
        }
    }

    /// Waits until `slot`'s index holds at least `size` entries (tests, benchmarks).
    pub async fn indexed(&self, slot: LogSlot, size: u64) {
        if let Some((_, rx)) = self.positions.iter().find(|(s, _)| *s == slot) {
            let mut rx = rx.clone();
            let _ = rx.wait_for(|p| *p >= size).await;
        }
    }

    /// Stops following and waits until the followers have: the bundle being indexed is
    /// finished (its transaction is atomic either way), nothing after it is started, so the
    /// database can close under no index write.
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        let tasks = match self.tasks.lock() {
            Ok(mut tasks) => std::mem::take(&mut *tasks),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for task in tasks {
            let _ = task.await;
        }
    }
}

async fn follow<S: LogStore + IndexStore>(
    log: Log<S>,
    position: watch::Sender<u64>,
    mut stop: watch::Receiver<bool>,
) {
    let name = log.config().name;
    let slot = log.config().slot;
    let lag = metrics::gauge!("mayfly_index_lag_entries", "log" => name);
    let mut heads = log.watch();
    // Said once, at start: a new or emptied index (an upgrade, a deleted or mismatched index
    // file) is rebuilt here, in the background, and searches miss entries until it catches up.
    if let Ok(indexed) = log.store().index_position(slot).await {
        let behind = log.checkpoint().size.saturating_sub(indexed);
        if behind > 0 {
            tracing::info!(
                log = name,
                indexed,
                behind,
                "indexing the entries the search index does not hold yet, in the background"
            );
        }
    }
    loop {
        let size = log.checkpoint().size;
        let step = catch_up(log.store(), slot, size, |p| {
            lag.set(size.saturating_sub(p) as f64);
            position.send_replace(p);
            !*stop.borrow()
        });
        let wait = match step.await {
            Ok(p) => {
                lag.set(size.saturating_sub(p) as f64);
                position.send_replace(p);
                None
            }
            Err(e) if is_conflict(&e) => {
                // Another replica's indexer (or a rebuild) added the same entries first: the
                // position moves by compare-and-swap, so nothing was added twice. Start again
                // from the stored position at once; the entries it reached are not redone.
                tracing::debug!(log = name, "another indexer moved this log's index first");
                continue;
            }
            Err(e) => {
                tracing::warn!(log = name, error = %e, "indexing failed; retrying");
                Some(RETRY_AFTER)
            }
        };
        let next = async {
            match wait {
                Some(delay) => tokio::time::sleep(delay).await,
                None => {
                    // A closed channel means the log has stopped: nothing more will come.
                    if heads.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                    tokio::time::sleep(INDEX_PACE).await;
                }
            }
        };
        tokio::select! {
            _ = next => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if *stop.borrow() {
            return;
        }
        // The lag grows the moment a checkpoint lands, before the step that indexes it.
        lag.set(log.checkpoint().size.saturating_sub(*position.borrow()) as f64);
    }
}
