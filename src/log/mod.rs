//! The log engine: an append-only RFC 6962 Merkle log stored as C2SP tiles, with durable group
//! commit.
//!
//! Appenders hand payloads to a bounded pool; one sequencer task per log takes everything
//! pending, assigns indices, rewrites the changed tiles, signs a new checkpoint and commits all
//! of it in one transaction; only then are the appenders woken, each with its index, the
//! checkpoint and a snapshot from which it computes its own inclusion proof. The next batch
//! starts as soon as the previous one committed, so batches grow with load and an idle log
//! answers in about one commit.
//!
//! The engine knows nothing of SQL or HTTP: storage is the [`storage::LogStore`] trait.

pub mod audit;
pub mod key;
mod sequencer;
pub mod storage;
mod tree;

use crate::log::key::LogKey;
use mayfly_spec::tlog::checkpoint::{Checkpoint, open_checkpoint};
use mayfly_spec::tlog::tile::{self, TileId};
use mayfly_spec::tlog::{Hash, TlogError};
use std::sync::Arc;
use std::time::Duration;
use storage::{LeafRecord, LogSlot, LogStore, StoreError, StoredCheckpoint};
use tokio::sync::{oneshot, watch};

pub use sequencer::Sequenced;
pub use tree::Snapshot;

/// Sizing of a log's admission pool.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// Short stable name for logs and metrics ("issuance", "artifacts").
    pub name: &'static str,
    pub slot: LogSlot,
    /// Checkpoint origin and note key name. Fixed when the log is created.
    pub origin: String,
    /// Entries waiting for a batch before appends are refused with [`LogError::PoolFull`].
    /// 16Ki entries is a few batches of headroom at the engine's measured rate (BENCHMARKS.md)
    /// while bounding memory.
    pub max_pending: usize,
    /// Payload bytes waiting, for the same purpose: 64 MiB.
    pub max_pending_bytes: usize,
    /// Entries per batch: keeps one transaction, and the latency of its waiters, bounded.
    pub max_batch: usize,
    /// Whether appending a payload already in the log answers its existing index (and keeps
    /// the index that makes that possible, one row per entry). A log whose payloads can never
    /// repeat turns this off and saves that row: it is a random B-tree insert per entry, which
    /// costs a page write per entry and grows slower as the log grows.
    pub dedup: bool,
    /// How often the sequencer, between batches, re-reads the stored checkpoint and adopts
    /// what another replica on the same database committed; `None` never does.
    ///
    /// On by default, whatever the database: it costs one indexed single-row read per log per
    /// tick, and nothing in a database URL says whether other processes use it (two servers
    /// can open one SQLite file). Without it, a replica that is not writing would go on serving
    /// its last checkpoint; with it, every replica serves the latest one within a tick. 200 ms
    /// keeps that lag well under a client's retry interval and the reads negligible.
    pub follow_every: Option<Duration>,
    /// Whether [`Log::create`] writes the log's genesis entry
    /// ([`mayfly_spec::tlog::genesis`]) at index 0, in the same commit as the first checkpoint,
    /// so that client entries start at 1. Only creation reads it: a log made without one keeps
    /// its client entry at 0, and readers tell the two apart by content ([`Log::is_genesis`]).
    pub genesis: bool,
}

impl LogConfig {
    pub fn new(name: &'static str, slot: LogSlot, origin: impl Into<String>) -> Self {
        LogConfig {
            name,
            slot,
            origin: origin.into(),
            max_pending: 16 * 1024,
            max_pending_bytes: 64 << 20,
            max_batch: 4096,
            dedup: true,
            follow_every: Some(Duration::from_millis(200)),
            genesis: false,
        }
    }
}

/// Why a leaf codec could not encode a payload. Shared between the waiters of a batch, so
/// reference-counted.
pub type CodecError = Arc<dyn std::error::Error + Send + Sync>;

/// Turns a submitted payload into the stored entry once its index and time are known.
/// The artifact log stores payloads verbatim; the issuance log wraps them in an RFC 6962
/// `MerkleTreeLeaf` that carries the timestamp and index.
///
/// Encoding is fallible on purpose: an entry that cannot be encoded is refused (its appender
/// gets [`LogError::Codec`]) and takes no index; nothing ever logs a placeholder in its stead.
pub trait LeafCodec: Send + Sync + 'static {
    fn encode(&self, index: u64, timestamp_ms: u64, payload: &[u8]) -> Result<Vec<u8>, CodecError>;
    /// Bytes `encode` adds at most, so oversized payloads are refused before sequencing.
    fn overhead(&self) -> usize;
}

/// Stores payloads unchanged.
pub struct Verbatim;

impl LeafCodec for Verbatim {
    fn encode(&self, _: u64, _: u64, payload: &[u8]) -> Result<Vec<u8>, CodecError> {
        Ok(payload.to_vec())
    }
    fn overhead(&self) -> usize {
        0
    }
}

/// What a failure means for whoever asked, so the HTTP layer can answer without knowing the
/// engine: the request was wrong, the log is busy for a moment, or something is broken here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The request cannot be served as asked; asking again will not help.
    Rejected,
    /// Nothing was logged; the same request is safe to retry shortly.
    Unavailable,
    /// A fault of this process or its storage; the details are for the operator.
    Internal,
}

/// Why a log operation failed. Cloned to every waiter of a failed batch, so sources are shared.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LogError {
    // Rejected.
    #[error("entry of {len} bytes exceeds the maximum of {max}")]
    EntryTooLarge { len: usize, max: usize },
    #[error("{what} is beyond the current tree size {size}")]
    BeyondTree { what: String, size: u64 },
    /// A proof asked for an impossible range (e.g. an index not below the size).
    #[error("{0}")]
    BadRange(#[source] TlogError),

    // Unavailable.
    #[error("the log is busy: {pending} entries are waiting; retry shortly")]
    PoolFull { pending: usize },
    #[error("the log is shutting down")]
    ShuttingDown,
    #[error("the log could not commit the entry; it was not acknowledged (retry is safe)")]
    NotCommitted,

    // Internal.
    #[error("the log has stopped: {0}")]
    Stopped(String),
    #[error("log {0} was never created in this database")]
    Missing(&'static str),
    #[error("{0}")]
    KeyMismatch(String),
    #[error("storage: {0}")]
    Storage(#[source] Arc<StoreError>),
    /// Stored data that storage returned intact but that contradicts itself (tiles that do not
    /// hash to the checkpoint, an entry without its index row).
    #[error("inconsistent log data: {0}")]
    Inconsistent(String),
    /// Building or signing a batch failed: tile arithmetic or the checkpoint signature.
    #[error("the log could not build a batch: {0}")]
    Batch(#[source] TlogError),
    #[error("the entry could not be encoded as a leaf: {0}")]
    Codec(#[source] CodecError),
    #[error("audit failed: {0}")]
    Audit(String),
}

impl LogError {
    pub fn fault(&self) -> Fault {
        match self {
            LogError::EntryTooLarge { .. }
            | LogError::BeyondTree { .. }
            | LogError::BadRange(_) => Fault::Rejected,
            LogError::PoolFull { .. } | LogError::ShuttingDown | LogError::NotCommitted => {
                Fault::Unavailable
            }
            LogError::Stopped(_)
            | LogError::Missing(_)
            | LogError::KeyMismatch(_)
            | LogError::Storage(_)
            | LogError::Inconsistent(_)
            | LogError::Batch(_)
            | LogError::Codec(_)
            | LogError::Audit(_) => Fault::Internal,
        }
    }
}

/// Proof arithmetic (`mayfly_spec::tlog::proof`) fails only for a range the tree cannot have,
/// so a [`TlogError`] that reaches the engine through `?` is the caller's: [`LogError::BadRange`].
/// Batch building and checkpoint signing map theirs to [`LogError::Batch`] explicitly.
impl From<TlogError> for LogError {
    fn from(e: TlogError) -> Self {
        LogError::BadRange(e)
    }
}

impl From<StoreError> for LogError {
    fn from(e: StoreError) -> Self {
        LogError::Storage(Arc::new(e))
    }
}

/// The result of an append.
#[derive(Clone, Debug)]
pub enum Appended {
    /// Newly sequenced and durable.
    New(Sequenced),
    /// An identical payload was already in the log; nothing was added.
    Existing(LeafRecord),
}

/// A running log: cheap to clone, safe to share.
pub struct Log<S: LogStore> {
    inner: Arc<Inner<S>>,
}

impl<S: LogStore> std::fmt::Debug for Log<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("name", &self.inner.config.name)
            .field("size", &self.checkpoint().size)
            .finish()
    }
}

impl<S: LogStore> Clone for Log<S> {
    fn clone(&self) -> Self {
        Log {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<S> {
    config: LogConfig,
    store: S,
    key: LogKey,
    codec: Arc<dyn LeafCodec>,
    pool: sequencer::Pool,
    head: watch::Receiver<Arc<StoredCheckpoint>>,
    done: tokio::sync::Mutex<Option<oneshot::Receiver<()>>>,
    /// Full hash tiles lately read for proofs.
    tiles: tree::TileCache,
}

impl<S: LogStore> Log<S> {
    /// Creates a log and starts it: empty (size 0), or with its genesis entry at index 0 when
    /// [`LogConfig::genesis`] is set, written in the same commit as the first signed checkpoint
    /// so that no crash can leave the log without it. Fails with [`StoreError::Conflict`] if
    /// the log already exists.
    ///
    /// The genesis entry is stored verbatim (not through the codec) and gets no dedup row: no
    /// client can submit it, and a lookup never answers it.
    pub async fn create(
        store: S,
        key: LogKey,
        config: LogConfig,
        codec: Arc<dyn LeafCodec>,
    ) -> Result<Self, LogError> {
        let mut tree = tree::Tree::empty();
        let mut changes = tree::Changes::default();
        if config.genesis {
            let entry = mayfly_spec::tlog::genesis::entry(&config.origin);
            changes = tree
                .append([(mayfly_spec::tlog::leaf_hash(&entry), entry.as_slice())])
                .map_err(LogError::Batch)?;
        }
        let tiles = std::mem::take(&mut changes.tiles);
        let bundles = std::mem::take(&mut changes.bundles);
        let size = tree.size();
        let root = tree.snapshot(changes).root()?;
        let note = sign(&key, &config.origin, size, root)?;
        let batch = storage::Batch {
            previous: None,
            checkpoint: Some(StoredCheckpoint { size, root, note }),
            tiles,
            bundles,
            ..Default::default()
        };
        store.commit(config.slot, &batch).await?;
        Self::open(store, key, config, codec).await
    }

    /// Opens an existing log: checks that the stored checkpoint was signed by `key` for this
    /// origin and that the stored tiles reproduce its root, then starts the sequencer.
    pub async fn open(
        store: S,
        key: LogKey,
        config: LogConfig,
        codec: Arc<dyn LeafCodec>,
    ) -> Result<Self, LogError> {
        let head = store
            .checkpoint(config.slot)
            .await?
            .ok_or(LogError::Missing(config.name))?;
        verify_head(&key, &config, &head)?;
        let tree = tree::Tree::load(&store, config.slot, head.size).await?;
        let root = tree.snapshot(tree::Changes::default()).root()?;
        if root != head.root {
            return Err(LogError::Inconsistent(format!(
                "the {} log's stored tiles hash to {root}, not to its checkpoint root {}",
                config.name, head.root
            )));
        }
        let (head_tx, head_rx) = watch::channel(Arc::new(head.clone()));
        let (done_tx, done_rx) = oneshot::channel();
        let inner = Arc::new(Inner {
            pool: sequencer::Pool::new(&config),
            config,
            store,
            key,
            codec,
            head: head_rx,
            done: tokio::sync::Mutex::new(Some(done_rx)),
            tiles: tree::TileCache::new(),
        });
        sequencer::spawn(inner.clone(), tree, head, head_tx, done_tx);
        Ok(Log { inner })
    }

    /// Appends a payload and waits until it is durable (or found already present).
    pub async fn append(&self, payload: Vec<u8>) -> Result<Appended, LogError> {
        let max = tile::MAX_ENTRY_LEN - self.inner.codec.overhead();
        if payload.len() > max {
            return Err(LogError::EntryTooLarge {
                len: payload.len(),
                max,
            });
        }
        let reply = self.inner.pool.submit(payload)?;
        reply.await.unwrap_or(Err(LogError::ShuttingDown))
    }

    /// The latest committed checkpoint.
    pub fn checkpoint(&self) -> Arc<StoredCheckpoint> {
        self.inner.head.borrow().clone()
    }

    /// Waits for the next committed checkpoint.
    pub fn watch(&self) -> watch::Receiver<Arc<StoredCheckpoint>> {
        self.inner.head.clone()
    }

    /// Waits, at most `limit`, until the published checkpoint covers `size` entries; true if
    /// it does. For an entry storage says is committed (its dedup row exists) beyond the
    /// checkpoint this process publishes: another replica logged it and this one adopts that
    /// checkpoint within a follow tick.
    pub async fn wait_for_size(&self, size: u64, limit: Duration) -> bool {
        let mut heads = self.watch();
        matches!(
            tokio::time::timeout(limit, heads.wait_for(|h| h.size >= size)).await,
            Ok(Ok(_))
        )
    }

    pub fn config(&self) -> &LogConfig {
        &self.inner.config
    }

    pub fn key(&self) -> &LogKey {
        &self.inner.key
    }

    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// False once the sequencer has stopped for good (for example after finding a checkpoint in
    /// storage that does not extend its own).
    pub fn is_healthy(&self) -> bool {
        self.inner.pool.is_running()
    }

    /// Stops admitting entries, lets the sequencer commit everything already admitted, and
    /// waits for it to finish.
    pub async fn close(&self) {
        self.inner.pool.close();
        if let Some(done) = self.inner.done.lock().await.take() {
            let _ = done.await;
        }
    }

    /// A hash tile as served at `tile/<L>/<N>[.p/<W>]`; `None` if the log has no such tile yet.
    pub async fn hash_tile(
        &self,
        id: TileId,
        width: Option<u8>,
    ) -> Result<Option<Vec<u8>>, LogError> {
        // A tile beyond the published tree does not exist, whatever its coordinate: answered
        // without a storage read (indexes past 2^63 do not even fit the database's integers).
        if tile::tile_width(id, self.checkpoint().size) == 0 {
            return Ok(None);
        }
        let want = width.map_or(tile::TILE_WIDTH, u64::from) as usize * Hash::LEN;
        let data = self
            .inner
            .store
            .hash_tile(self.inner.config.slot, id)
            .await?;
        Ok(data.filter(|d| d.len() >= want).map(|mut d| {
            d.truncate(want);
            d
        }))
    }

    /// An entry bundle as served at `tile/entries/<N>[.p/<W>]`.
    pub async fn entry_bundle(
        &self,
        index: u64,
        width: Option<u8>,
    ) -> Result<Option<Vec<u8>>, LogError> {
        if tile::entries_width(index, self.checkpoint().size) == 0 {
            return Ok(None);
        }
        let want = width.map_or(tile::TILE_WIDTH, u64::from) as usize;
        let Some(mut data) = self
            .inner
            .store
            .entry_bundle(self.inner.config.slot, index)
            .await?
        else {
            return Ok(None);
        };
        let have = tile::split_entries(&data)
            .map_err(|e| LogError::Inconsistent(e.to_string()))?
            .len();
        if have < want {
            return Ok(None);
        }
        let prefix = tile::bundle_prefix(&data, want)
            .map_err(|e| LogError::Inconsistent(e.to_string()))?
            .len();
        data.truncate(prefix);
        Ok(Some(data))
    }

    /// The entry at `index`, if the log has one.
    pub async fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, LogError> {
        if index >= self.checkpoint().size {
            return Ok(None);
        }
        let Some(data) = self
            .inner
            .store
            .entry_bundle(self.inner.config.slot, index / tile::TILE_WIDTH)
            .await?
        else {
            return Ok(None);
        };
        let entries =
            tile::split_entries(&data).map_err(|e| LogError::Inconsistent(e.to_string()))?;
        Ok(entries
            .get((index % tile::TILE_WIDTH) as usize)
            .map(|e| e.to_vec()))
    }

    /// Where the payload with this dedup key (its RFC 6962 leaf hash) was logged. Always `None`
    /// for a log without dedup, which keeps no such index.
    /// Whether the entry at `index` is this log's genesis entry: index 0 of a log created with
    /// one. Decided by content, so a log created before genesis entries existed, whose index 0
    /// is a client's, answers false.
    pub async fn is_genesis(&self, index: u64) -> Result<bool, LogError> {
        if index != 0 {
            return Ok(false);
        }
        Ok(self.entry(0).await?.is_some_and(|data| {
            mayfly_spec::tlog::genesis::is_genesis(&self.inner.config.origin, 0, &data)
        }))
    }

    pub async fn lookup(&self, key: &Hash) -> Result<Option<LeafRecord>, LogError> {
        if !self.inner.config.dedup {
            return Ok(None);
        }
        let mut found = self
            .inner
            .store
            .lookup(self.inner.config.slot, std::slice::from_ref(key))
            .await?;
        Ok(found.pop().flatten())
    }

    /// Inclusion proof of leaf `index` in the tree of `size` leaves (≤ the current size).
    pub async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, LogError> {
        self.check_size(size)?;
        tree::read_inclusion_proof(
            &self.inner.store,
            self.inner.config.slot,
            Some(&self.inner.tiles),
            index,
            size,
        )
        .await
    }

    /// Inclusion proofs of several leaves in the tree of `size` leaves, each tile read once.
    pub async fn inclusion_proofs(
        &self,
        indexes: &[u64],
        size: u64,
    ) -> Result<Vec<Vec<Hash>>, LogError> {
        self.check_size(size)?;
        tree::read_inclusion_proofs(
            &self.inner.store,
            self.inner.config.slot,
            Some(&self.inner.tiles),
            indexes,
            size,
        )
        .await
    }

    /// Consistency proof from tree size `old` to `new` (≤ the current size).
    pub async fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, LogError> {
        self.check_size(new)?;
        tree::read_consistency_proof(
            &self.inner.store,
            self.inner.config.slot,
            Some(&self.inner.tiles),
            old,
            new,
        )
        .await
    }

    /// The root of the tree at an earlier `size`.
    pub async fn root_at(&self, size: u64) -> Result<Hash, LogError> {
        self.check_size(size)?;
        tree::read_root(
            &self.inner.store,
            self.inner.config.slot,
            Some(&self.inner.tiles),
            size,
        )
        .await
    }

    fn check_size(&self, size: u64) -> Result<(), LogError> {
        let current = self.checkpoint().size;
        if size > current {
            return Err(LogError::BeyondTree {
                what: format!("tree size {size}"),
                size: current,
            });
        }
        Ok(())
    }
}

/// Signs the checkpoint for `(size, root)` under `origin`.
fn sign(key: &LogKey, origin: &str, size: u64, root: Hash) -> Result<String, LogError> {
    let signer = key.note_signer(origin).map_err(LogError::Batch)?;
    let cp = Checkpoint {
        origin: origin.to_owned(),
        size,
        root,
        extensions: vec![],
    };
    mayfly_spec::tlog::checkpoint::sign_checkpoint(&cp, &signer)
        .map(|signed| signed.note)
        .map_err(LogError::Batch)
}

/// Refuses a stored checkpoint that this key did not sign for this origin.
fn verify_head(key: &LogKey, config: &LogConfig, head: &StoredCheckpoint) -> Result<(), LogError> {
    let verifier = key
        .note_verifier(&config.origin)
        .map_err(|e| LogError::KeyMismatch(e.to_string()))?;
    let opened = open_checkpoint(head.note.as_bytes(), &config.origin, &verifier).map_err(|e| {
        LogError::KeyMismatch(format!(
            "the {} log's stored checkpoint (size {}) does not verify with this process's key \
             (key ID {:08x}, log ID {}) and origin {:?}: it is signed by {} ({e}); \
             the key file or --public-url does not belong to this database: give every replica \
             the keys and --public-url of the instance that created it",
            config.name,
            head.size,
            key.key_id(),
            key.log_id(),
            config.origin,
            describe_signers(&head.note),
        ))
    })?;
    if opened.checkpoint.size != head.size || opened.checkpoint.root != head.root {
        return Err(LogError::Inconsistent(format!(
            "the {} log's checkpoint row disagrees with its signed note",
            config.name
        )));
    }
    Ok(())
}

/// Who signed a stored note, for an operator comparing keys: "key ID 1a2b3c4d (name N)", or
/// why the note could not be read at all.
pub fn describe_signers(note: &str) -> String {
    match mayfly_spec::tlog::note::Note::parse(note.as_bytes()) {
        Ok(note) => note
            .signatures()
            .iter()
            .map(|s| format!("key ID {:08x} (name {:?})", s.key_id, s.name))
            .collect::<Vec<_>>()
            .join(", "),
        Err(e) => format!("no readable signature ({e})"),
    }
}
