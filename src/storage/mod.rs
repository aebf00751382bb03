//! Storage backends for the log engine: the only module that knows SQL.
//!
//! Each backend implements [`LogStore`] the way that suits its database (one SQLite file with
//! WAL and one writer connection today). [`Store`] is the one the server runs on: an enum, so
//! the engine and the HTTP layer are written once and dispatch costs a branch, not a box.

#[cfg(test)]
mod contract_tests;
mod postgres;
#[cfg(any(test, feature = "test-util"))]
pub mod scratch;
mod sqlite;
mod terms;

pub use postgres::{PgStore, PgTurn};
pub use sqlite::{SqliteStore, index_path};

use crate::index::{ArtifactQuery, CertificateQuery, IndexBatch, IndexStore};
use crate::log::storage::{Batch, LeafRecord, LogSlot, LogStore, StoreError, StoredCheckpoint};
use mayfly_spec::tlog::Hash;
use mayfly_spec::tlog::tile::TileId;
use sqlx::migrate::MigrateError;
use std::path::{Path, PathBuf};

/// Where the database lives, as `--database-url` names it.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH` (or `sqlite:PATH`): one file, created if missing.
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`, as libpq reads it; the database must exist.
    Postgres(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatabaseUrlError {
    #[error(
        "--database-url {0}: unknown scheme; use sqlite://PATH (a file, created if missing) or postgres://USER@HOST:PORT/DATABASE"
    )]
    UnknownScheme(String),
    #[error("--database-url {0}: no path after the scheme")]
    Empty(String),
    #[error("--database-url {0}: {1}")]
    Malformed(String, String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, DatabaseUrlError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // Checked here so a typo is reported before anything starts, without the password.
            url::Url::parse(url)
                .map_err(|e| DatabaseUrlError::Malformed(redact(url), e.to_string()))?;
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| DatabaseUrlError::UnknownScheme(redact(url)))?;
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
            DatabaseUrl::Postgres(_) => None,
        }
    }
}

/// `url` with its password (if any) replaced by `***`: what errors and logs show.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Fails only for URLs that cannot have a password, which this one has.
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        // Unparseable: show the scheme alone rather than risk showing a password.
        Err(_) => match url.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://…"),
            None => "(unparseable URL)".to_owned(),
        },
    }
}

/// Shows the URL without its password.
impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

/// As Display: a password never reaches a log line through `{:?}` either.
impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// What a failed schema migration means for the operator. A database that has a migration this
/// binary does not know was upgraded by a newer Mayfly: running on it could misread its tables.
fn migration_error(shown: &str, e: MigrateError) -> StoreError {
    match e {
        MigrateError::VersionMissing(version) => StoreError::Unavailable(format!(
            "{shown}: the database schema is newer than this mayfly (migration {version}); upgrade mayfly"
        )),
        MigrateError::VersionMismatch(version) => StoreError::Unavailable(format!(
            "{shown}: migration {version} in the database differs from this mayfly's; the database was made by another build"
        )),
        other => StoreError::Backend(Box::new(other)),
    }
}

/// The store the server runs on.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
    /// SQLite with injected faults (tests only; see [`crate::testing`]).
    #[cfg(feature = "test-util")]
    FaultySqlite(crate::testing::FaultyStore<SqliteStore>),
    /// PostgreSQL with injected faults (tests only).
    #[cfg(feature = "test-util")]
    FaultyPostgres(crate::testing::FaultyStore<PgStore>),
}

/// `$body` with `$s` bound to the store behind any variant (the fault injector included).
macro_rules! each {
    ($store:expr, $s:ident => $body:expr) => {
        match $store {
            Store::Sqlite($s) => $body,
            Store::Postgres($s) => $body,
            #[cfg(feature = "test-util")]
            Store::FaultySqlite($s) => $body,
            #[cfg(feature = "test-util")]
            Store::FaultyPostgres($s) => $body,
        }
    };
}

/// `$body` with `$s` bound to the real store, past any fault injector.
macro_rules! real {
    ($store:expr, $s:ident => $body:expr) => {
        match $store.real() {
            Real::Sqlite($s) => $body,
            Real::Postgres($s) => $body,
        }
    };
}

enum Real<'a> {
    Sqlite(&'a SqliteStore),
    Postgres(&'a PgStore),
}

impl Store {
    /// Opens (creating a SQLite file if needed) the database and applies its migrations.
    pub async fn open(url: &DatabaseUrl) -> Result<Self, StoreError> {
        match url {
            DatabaseUrl::Sqlite(path) => Ok(Store::Sqlite(SqliteStore::open(path).await?)),
            DatabaseUrl::Postgres(raw) => Ok(Store::Postgres(PgStore::open(raw).await?)),
        }
    }

    pub async fn close(&self) {
        real!(self, s => s.close().await)
    }

    fn real(&self) -> Real<'_> {
        match self {
            Store::Sqlite(s) => Real::Sqlite(s),
            Store::Postgres(s) => Real::Postgres(s),
            #[cfg(feature = "test-util")]
            Store::FaultySqlite(s) => Real::Sqlite(s.inner()),
            #[cfg(feature = "test-util")]
            Store::FaultyPostgres(s) => Real::Postgres(s.inner()),
        }
    }

    /// Up to `limit` dedup rows of `log` with keys after `after`, in key order: how
    /// `mayfly migrate` walks them.
    pub async fn leaf_rows(
        &self,
        log: LogSlot,
        after: Option<Hash>,
        limit: usize,
    ) -> Result<Vec<LeafRecord>, StoreError> {
        real!(self, s => s.leaf_rows(log, after, limit).await)
    }

    /// Whether the database holds no log data and no index: a safe destination for a copy.
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        real!(self, s => s.is_empty().await)
    }
}

/// A writer turn on whichever backend the store runs on.
pub enum StoreTurn {
    Sqlite,
    Postgres(postgres::PgTurn),
}

impl LogStore for Store {
    type Turn = StoreTurn;

    async fn begin_turn(
        &self,
        log: LogSlot,
    ) -> Result<(StoreTurn, Option<StoredCheckpoint>), StoreError> {
        match self {
            Store::Sqlite(s) => Ok((StoreTurn::Sqlite, s.begin_turn(log).await?.1)),
            Store::Postgres(s) => {
                let (turn, stored) = s.begin_turn(log).await?;
                Ok((StoreTurn::Postgres(turn), stored))
            }
            #[cfg(feature = "test-util")]
            Store::FaultySqlite(s) => Ok((StoreTurn::Sqlite, s.begin_turn(log).await?.1)),
            #[cfg(feature = "test-util")]
            Store::FaultyPostgres(s) => {
                let (turn, stored) = s.begin_turn(log).await?;
                Ok((StoreTurn::Postgres(turn), stored))
            }
        }
    }

    async fn checkpoint(&self, log: LogSlot) -> Result<Option<StoredCheckpoint>, StoreError> {
        each!(self, s => s.checkpoint(log).await)
    }

    async fn hash_tile(&self, log: LogSlot, id: TileId) -> Result<Option<Vec<u8>>, StoreError> {
        each!(self, s => s.hash_tile(log, id).await)
    }

    async fn entry_bundle(&self, log: LogSlot, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        each!(self, s => s.entry_bundle(log, index).await)
    }

    async fn lookup(
        &self,
        log: LogSlot,
        keys: &[Hash],
    ) -> Result<Vec<Option<LeafRecord>>, StoreError> {
        each!(self, s => s.lookup(log, keys).await)
    }

    async fn commit(&self, log: LogSlot, batch: &Batch) -> Result<(), StoreError> {
        each!(self, s => s.commit(log, batch).await)
    }
}

/// Faults reach the index only as [`crate::testing::Fault::IndexAddLosesRace`].
impl IndexStore for Store {
    async fn index_position(&self, log: LogSlot) -> Result<u64, StoreError> {
        real!(self, s => s.index_position(log).await)
    }

    async fn index_add(&self, log: LogSlot, batch: &IndexBatch) -> Result<(), StoreError> {
        each!(self, s => s.index_add(log, batch).await)
    }

    async fn index_clear(&self) -> Result<(), StoreError> {
        real!(self, s => s.index_clear().await)
    }

    async fn find_certificates(&self, query: &CertificateQuery) -> Result<Vec<u64>, StoreError> {
        real!(self, s => s.find_certificates(query).await)
    }

    async fn find_artifacts(&self, query: &ArtifactQuery) -> Result<Vec<(u64, Hash)>, StoreError> {
        real!(self, s => s.find_artifacts(query).await)
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

    #[test]
    fn postgres_urls_are_taken_and_shown_without_their_password() {
        for url in ["postgres://u@db:5432/mayfly", "postgresql://db/mayfly"] {
            assert_eq!(
                DatabaseUrl::parse(url),
                Ok(DatabaseUrl::Postgres(url.to_owned()))
            );
        }
        let url = DatabaseUrl::parse("postgres://mayfly:s3cret@db/mayfly").unwrap();
        assert_eq!(url.to_string(), "postgres://mayfly:***@db/mayfly");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(url.local_file(), None);

        let unknown = DatabaseUrl::parse("mysql://u:s3cret@localhost/db").unwrap_err();
        let message = unknown.to_string();
        assert!(
            message.contains("sqlite://") && message.contains("postgres://"),
            "{message}"
        );
        assert!(!message.contains("s3cret"), "{message}");
        let malformed = DatabaseUrl::parse("postgres://u:s3cret@db:port/m").unwrap_err();
        assert!(
            matches!(malformed, DatabaseUrlError::Malformed(..)),
            "{malformed}"
        );
        assert!(!malformed.to_string().contains("s3cret"));
    }
}
