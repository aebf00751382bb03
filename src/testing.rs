//! The test kit, for every test in the workspace (feature `test-util`): a store that fails at a
//! chosen persistence step (or loses an index write to another indexer), a CA signer that fails
//! on demand, and [`check_log`], which re-verifies a whole log from storage.
//!
//! Both doubles wrap the real thing and pass through until armed, so a test runs the real
//! server, arms one fault, and checks what a client sees and what storage holds afterwards.

pub use crate::log::audit::check_log;
pub use crate::storage::scratch::ScratchDatabase;

use crate::ca::signer::{CaSigner, SignerError};
use crate::index::{ArtifactQuery, CertificateQuery, IndexBatch, IndexStore};
use crate::log::storage::{Batch, LeafRecord, LogSlot, LogStore, StoreError, StoredCheckpoint};
use crate::storage::Store;
use mayfly_spec::tlog::Hash;
use mayfly_spec::tlog::tile::TileId;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A persistence step that fails the next time it runs, once per arming.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Fail the commit without writing anything.
    CommitFailsBeforeWrite,
    /// Write the batch durably, then report failure (a lost acknowledgement).
    CommitFailsAfterWrite,
    /// Fail the dedup lookup.
    LookupFails,
    /// Fail the next checkpoint read (hits the reload after a failed commit).
    CheckpointReadFails,
    /// Another indexer adds the next index batch just first: this one gets the
    /// compare-and-swap's conflict, as when two replicas (or a rebuild) race.
    IndexAddLosesRace,
}

/// The error an armed fault returns.
#[derive(Debug, thiserror::Error)]
#[error("injected fault: {0:?}")]
pub struct Injected(pub Fault);

/// The switchboard of a [`FaultyStore`]: cheap to clone, shared with the store it arms.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    armed: Arc<Mutex<Vec<Fault>>>,
    gate: Arc<tokio::sync::Mutex<()>>,
}

impl Faults {
    /// Makes the next run of `fault`'s step fail (arming twice fails it twice).
    pub fn arm(&self, fault: Fault) {
        self.lock().push(fault);
    }

    /// Faults armed but not yet hit.
    pub fn pending(&self) -> Vec<Fault> {
        self.lock().clone()
    }

    /// Holds every commit until the guard drops: appends pile up in the pool meanwhile.
    pub async fn hold_commits(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.gate.clone().lock_owned().await
    }

    // A poisoned lock only means a test panicked while holding it; the list is still valid.
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Fault>> {
        self.armed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `fault` was armed, disarming it.
    fn hit(&self, fault: Fault) -> bool {
        let mut armed = self.lock();
        let found = armed.iter().position(|f| *f == fault);
        found.map(|i| armed.remove(i)).is_some()
    }

    fn take(&self, fault: Fault) -> Result<(), StoreError> {
        if self.hit(fault) {
            Err(StoreError::Backend(Box::new(Injected(fault))))
        } else {
            Ok(())
        }
    }
}

/// A store that injects armed faults into another, and can hold commits back.
#[derive(Clone, Debug)]
pub struct FaultyStore<S> {
    inner: S,
    faults: Faults,
}

impl<S: LogStore> FaultyStore<S> {
    /// `inner` with a switchboard of its own.
    pub fn new(inner: S) -> Self {
        Self::with_faults(inner, Faults::default())
    }

    /// `inner` armed from `faults`.
    pub fn with_faults(inner: S, faults: Faults) -> Self {
        FaultyStore { inner, faults }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// See [`Faults::arm`].
    pub fn arm(&self, fault: Fault) {
        self.faults.arm(fault);
    }
}

impl Store {
    /// This store with `faults` injected into it.
    pub fn with_faults(self, faults: &Faults) -> Store {
        match self {
            Store::Sqlite(s) => Store::FaultySqlite(FaultyStore::with_faults(s, faults.clone())),
            Store::FaultySqlite(s) => {
                Store::FaultySqlite(FaultyStore::with_faults(s.inner, faults.clone()))
            }
            Store::Postgres(s) => {
                Store::FaultyPostgres(FaultyStore::with_faults(s, faults.clone()))
            }
            Store::FaultyPostgres(s) => {
                Store::FaultyPostgres(FaultyStore::with_faults(s.inner, faults.clone()))
            }
        }
    }
}

impl<S: LogStore> LogStore for FaultyStore<S> {
    type Turn = S::Turn;

    /// Never fails by injection: the faults model reads and commits, and a turn that cannot
    /// be had fails its batch before anything is read, which a commit fault already covers.
    async fn begin_turn(
        &self,
        log: LogSlot,
    ) -> Result<(S::Turn, Option<StoredCheckpoint>), StoreError> {
        self.inner.begin_turn(log).await
    }

    async fn checkpoint(&self, log: LogSlot) -> Result<Option<StoredCheckpoint>, StoreError> {
        self.faults.take(Fault::CheckpointReadFails)?;
        self.inner.checkpoint(log).await
    }

    async fn hash_tile(&self, log: LogSlot, id: TileId) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.hash_tile(log, id).await
    }

    async fn entry_bundle(&self, log: LogSlot, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.entry_bundle(log, index).await
    }

    async fn lookup(
        &self,
        log: LogSlot,
        keys: &[Hash],
    ) -> Result<Vec<Option<LeafRecord>>, StoreError> {
        self.faults.take(Fault::LookupFails)?;
        self.inner.lookup(log, keys).await
    }

    async fn commit(&self, log: LogSlot, batch: &Batch) -> Result<(), StoreError> {
        let _open = self.faults.gate.lock().await;
        self.faults.take(Fault::CommitFailsBeforeWrite)?;
        self.inner.commit(log, batch).await?;
        self.faults.take(Fault::CommitFailsAfterWrite)
    }
}

impl<S: IndexStore> IndexStore for FaultyStore<S> {
    async fn index_position(&self, log: LogSlot) -> Result<u64, StoreError> {
        self.inner.index_position(log).await
    }

    async fn index_add(&self, log: LogSlot, batch: &IndexBatch) -> Result<(), StoreError> {
        if self.faults.hit(Fault::IndexAddLosesRace) {
            self.inner.index_add(log, batch).await?;
        }
        self.inner.index_add(log, batch).await
    }

    async fn index_clear(&self) -> Result<(), StoreError> {
        self.inner.index_clear().await
    }

    async fn find_certificates(&self, query: &CertificateQuery) -> Result<Vec<u64>, StoreError> {
        self.inner.find_certificates(query).await
    }

    async fn find_artifacts(&self, query: &ArtifactQuery) -> Result<Vec<(u64, Hash)>, StoreError> {
        self.inner.find_artifacts(query).await
    }
}

/// A CA signer that signs with another until told to fail. One issuance signs twice: the
/// precertificate (before anything is logged) and the final certificate (after).
pub struct FailingSigner {
    inner: Arc<dyn CaSigner>,
    /// Signatures still to make before the armed failure.
    skip: AtomicUsize,
    /// Failures armed.
    failures: AtomicUsize,
}

impl FailingSigner {
    pub fn new(inner: Arc<dyn CaSigner>) -> Self {
        FailingSigner {
            inner,
            skip: AtomicUsize::new(0),
            failures: AtomicUsize::new(0),
        }
    }

    /// Makes the next signature fail.
    pub fn fail_next(&self) {
        self.fail_after(0);
    }

    /// Lets `successes` signatures through, then fails one.
    pub fn fail_after(&self, successes: usize) {
        self.skip.store(successes, Ordering::SeqCst);
        self.failures.store(1, Ordering::SeqCst);
    }
}

impl CaSigner for FailingSigner {
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.inner.algorithm()
    }

    fn public_key_raw(&self) -> &[u8] {
        self.inner.public_key_raw()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        let armed = self.failures.load(Ordering::SeqCst) > 0
            && self
                .skip
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_err()
            && self
                .failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if armed {
            return Err(SignerError::Sign("injected signer failure".into()));
        }
        self.inner.sign(message)
    }

    fn backend(&self) -> &'static str {
        "failing-test-double"
    }
}
