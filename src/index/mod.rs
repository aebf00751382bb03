//! The search index of both logs: derived from their committed entries, never written by the
//! request path, and rebuildable from the logs alone (`mayfly index rebuild`).
//!
//! Why derived and not written in the batch's transaction: the index is outside the trust path
//! (design.md §4: losing it costs look-ups, never correctness), so it must not slow down or
//! fail a commit, and whatever it holds can be checked against the log: every search answer
//! carries the entry itself and an inclusion proof. A background [`Indexer`] follows each log
//! (woken by every new checkpoint), reads the entries it has not indexed from the entry bundles,
//! and adds them one bundle per transaction, moving the log's stored position with them. Its
//! lag, in entries, is the gauge `mayfly_index_lag_entries{log}`.
//!
//! What is indexed (see [`extract`]):
//! - issuance log (precertificate entries): SAN, OIDC issuer, source repository URI (`.12`) and
//!   its `owner/name` path, repository owner URI (`.16`) and its path, ref (`.14`), build signer
//!   URI / workflow (`.9`), trigger (`.20`), and notBefore;
//! - artifact log (Rekor bodies): what Rekor's own index keys hold: the SANs of every verifier
//!   certificate (lowercased: Rekor lowercases e-mail queries), the SHA-256 of every verifier's
//!   canonical PEM (Rekor's public-key key), and the digests the body records.
//!
//! The storage contract is [`IndexStore`]; only `src/storage` knows its SQL.

pub mod extract;
mod follow;
pub mod search;

pub use follow::{Indexer, RebuildReport, rebuild};

use crate::log::storage::{LogSlot, StoreError};
use mayfly_spec::tlog::Hash;
use std::future::Future;

/// A searchable field. The code is stable on disk: never renumber.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    San,
    Issuer,
    /// `.12` as written.
    Repository,
    /// `.12`'s path: `owner/name`.
    RepositoryPath,
    /// `.16` as written.
    Owner,
    /// `.16`'s path: the owner's name.
    OwnerPath,
    /// `.14`.
    Ref,
    /// `.9`, the build signer URI (the workflow file at a ref, for GitHub).
    Workflow,
    /// `.20`.
    Trigger,
    /// A verifier certificate's SAN, lowercased.
    ArtifactSubject,
    /// Hex SHA-256 of a verifier's canonical PEM.
    PublicKey,
    /// `algorithm:hex`, lowercased.
    Digest,
}

impl Field {
    pub fn code(self) -> u8 {
        match self {
            Field::San => 1,
            Field::Issuer => 2,
            Field::Repository => 3,
            Field::RepositoryPath => 4,
            Field::Owner => 5,
            Field::OwnerPath => 6,
            Field::Ref => 7,
            Field::Workflow => 8,
            Field::Trigger => 9,
            Field::ArtifactSubject => 32,
            Field::PublicKey => 33,
            Field::Digest => 34,
        }
    }
}

/// One field's value, as stored and as searched for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Term {
    pub field: Field,
    pub value: String,
}

impl Term {
    pub fn new(field: Field, value: impl Into<String>) -> Self {
        Term {
            field,
            value: value.into(),
        }
    }
}

/// What one entry adds to the index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexedEntry {
    pub index: u64,
    pub terms: Vec<Term>,
    pub detail: EntryDetail,
}

/// The per-entry row beside the terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryDetail {
    /// An issuance: its notBefore (Unix seconds), for time ranges.
    Certificate { not_before: i64 },
    /// An artifact-log entry: its UUID, which Rekor's index answers with.
    Artifact { uuid: Hash },
}

/// The entries `[from, to)` of one log, added in one transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexBatch {
    pub from: u64,
    pub to: u64,
    pub entries: Vec<IndexedEntry>,
}

/// Issuance-log entries matching every term and the notBefore range, in log order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateQuery {
    pub terms: Vec<Term>,
    /// Inclusive bounds on notBefore, Unix seconds.
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Only entries in `[start, end)`: the cursor and the checkpoint size.
    pub start: u64,
    pub end: u64,
    pub limit: usize,
}

/// Artifact-log entries matching all (`all`) or any of the terms, in log order, in
/// `[start, end)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtifactQuery {
    pub terms: Vec<Term>,
    pub all: bool,
    pub start: u64,
    pub end: u64,
    pub limit: usize,
}

/// Storage for the index. Contracts:
/// - [`IndexStore::index_add`] is atomic and moves the log's position from `batch.from` to
///   `batch.to` by compare-and-swap, so two indexers (or an indexer and a rebuild) can never
///   index an entry twice: the loser gets [`StoreError::Conflict`] and writes nothing.
/// - [`IndexStore::index_clear`] empties the index and resets every position to 0.
pub trait IndexStore: Clone + Send + Sync + 'static {
    /// How many entries of `log` are indexed (the next index to add).
    fn index_position(&self, log: LogSlot) -> impl Future<Output = Result<u64, StoreError>> + Send;

    fn index_add(
        &self,
        log: LogSlot,
        batch: &IndexBatch,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn index_clear(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Matching issuance-log indexes, ascending, at most `limit`.
    fn find_certificates(
        &self,
        query: &CertificateQuery,
    ) -> impl Future<Output = Result<Vec<u64>, StoreError>> + Send;

    /// Matching artifact-log entries (index, UUID), ascending, at most `limit`.
    fn find_artifacts(
        &self,
        query: &ArtifactQuery,
    ) -> impl Future<Output = Result<Vec<(u64, Hash)>, StoreError>> + Send;
}
