//! Storage backends for the log engine: the only module that knows SQL.
//!
//! Each backend implements [`LogStore`] the way that suits its database (one SQLite file with
//! WAL and one writer connection today). [`Store`] is the one the server runs on: an enum, so
//! the engine and the HTTP layer are written once and dispatch costs a branch, not a box.

mod sqlite;

pub use sqlite::SqliteStore;

use crate::index::{ArtifactQuery, CertificateQuery, IndexBatch, IndexStore};
use crate::log::storage::{Batch, LeafRecord, LogSlot, LogStore, StoreError, StoredCheckpoint};
use mayfly_spec::tlog::Hash;
use mayfly_spec::tlog::tile::TileId;
use std::path::{Path, PathBuf};

/// Where the database lives, as `--database-url` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH` (or `sqlite:PATH`): one file, created if missing.
    Sqlite(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatabaseUrlError {
    #[error("--database-url {0}: unknown scheme; use sqlite://PATH (a file, created if missing)")]
    UnknownScheme(String),
    #[error("--database-url {0}: no path after the scheme")]
    Empty(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, DatabaseUrlError> {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| DatabaseUrlError::UnknownScheme(url.to_owned()))?;
        if path.is_empty() {
            return Err(DatabaseUrlError::Empty(url.to_owned()));
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
    }

    /// The embedded default: a SQLite file at `path`.
    pub fn sqlite(path: &Path) -> Self {
        DatabaseUrl::Sqlite(path.to_owned())
    }

    /// A local file this database lives in, if any: part of what makes an instance.
    pub fn local_file(&self) -> Option<&Path> {
        match self {
            DatabaseUrl::Sqlite(path) => Some(path),
        }
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
        }
    }
}

/// The store the server runs on.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqliteStore),
    /// SQLite with injected faults (tests only; see [`crate::testing`]).
    #[cfg(feature = "test-util")]
    FaultySqlite(crate::testing::FaultyStore<SqliteStore>),
}

impl Store {
    /// Opens (creating if needed) the database and applies its migrations.
    pub async fn open(url: &DatabaseUrl) -> Result<Self, StoreError> {
        match url {
            DatabaseUrl::Sqlite(path) => Ok(Store::Sqlite(SqliteStore::open(path).await?)),
        }
    }

    pub async fn close(&self) {
        match self {
            Store::Sqlite(s) => s.close().await,
            #[cfg(feature = "test-util")]
            Store::FaultySqlite(s) => s.inner().close().await,
        }
    }
}

impl LogStore for Store {
    async fn checkpoint(&self, log: LogSlot) -> Result<Option<StoredCheckpoint>, StoreError> {
        match self {
            Store::Sqlite(s) => s.checkpoint(log).await,
            #[cfg(feature = "test-util")]
            Store::FaultySqlite(s) => s.checkpoint(log).await,
        }
    }

    async fn hash_tile(&self, log: LogSlot, id: TileId) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Store::Sqlite(s) => s.hash_tile(log, id).await,
            #[cfg(feature = "test-util")]
            Store::FaultySqlite(s) => s.hash_tile(log, id).await,
        }
    }

    async fn entry_bundle(&self, log: LogSlot, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Store::Sqlite(s) => s.entry_bundle(log, index).await,
            #[cfg(feature = "test-util")]
            Store::FaultySqlite(s) => s.entry_bundle(log, index).await,
        }
    }

    async fn lookup(
        &self,
        log: LogSlot,
        keys: &[Hash],
    ) -> Result<Vec<Option<LeafRecord>>, StoreError> {
        match self {
            Store::Sqlite(s) => s.lookup(log, keys).await,
            #[cfg(feature = "test-util")]
            Store::FaultySqlite(s) => s.lookup(log, keys).await,
        }
    }

    async fn commit(&self, log: LogSlot, batch: &Batch) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.commit(log, batch).await,
            #[cfg(feature = "test-util")]
            Store::FaultySqlite(s) => s.commit(log, batch).await,
        }
    }
}

/// The index lives in the same database; faults are injected into the log's tables only.
impl IndexStore for Store {
    async fn index_position(&self, log: LogSlot) -> Result<u64, StoreError> {
        self.sqlite().index_position(log).await
    }

    async fn index_add(&self, log: LogSlot, batch: &IndexBatch) -> Result<(), StoreError> {
        self.sqlite().index_add(log, batch).await
    }

    async fn index_clear(&self) -> Result<(), StoreError> {
        self.sqlite().index_clear().await
    }

    async fn find_certificates(&self, query: &CertificateQuery) -> Result<Vec<u64>, StoreError> {
        self.sqlite().find_certificates(query).await
    }

    async fn find_artifacts(&self, query: &ArtifactQuery) -> Result<Vec<(u64, Hash)>, StoreError> {
        self.sqlite().find_artifacts(query).await
    }
}

impl Store {
    fn sqlite(&self) -> &SqliteStore {
        match self {
            Store::Sqlite(s) => s,
            #[cfg(feature = "test-util")]
            Store::FaultySqlite(s) => s.inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_name_their_scheme() {
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/mayfly/m.db"),
            Ok(DatabaseUrl::Sqlite("/var/lib/mayfly/m.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:m.db"),
            Ok(DatabaseUrl::Sqlite("m.db".into()))
        );
        assert!(matches!(
            DatabaseUrl::parse("mysql://localhost/db"),
            Err(DatabaseUrlError::UnknownScheme(_))
        ));
        assert!(matches!(
            DatabaseUrl::parse("sqlite://"),
            Err(DatabaseUrlError::Empty(_))
        ));
        let shown = DatabaseUrl::parse("sqlite:///x.db").unwrap().to_string();
        assert_eq!(shown, "sqlite:///x.db");
    }
}
