//! The log store on one SQLite file (WAL, `synchronous=FULL`), and the search index on a second.
//!
//! Writes go through a single connection and `BEGIN IMMEDIATE`, so a batch takes the write
//! lock up front instead of upgrading a read snapshot (which in WAL mode fails with
//! SQLITE_BUSY_SNAPSHOT and bypasses the busy handler). Reads use a separate pool and never
//! wait behind writes.
//!
//! The search index lives in a file of its own beside the log's ([`index_path`]). SQLite has one
//! writer per file: with both in one file, every index batch (a few hundred random B-tree
//! inserts) held the lock the sequencer's next commit needed, and its pages went through the
//! log's WAL and checkpoints. The index is derived from the logs, so the two files need no
//! common transaction; what must hold is that an index file is only ever read with the log
//! file it was built from, which [`pair_index`] checks at every open.

use crate::log::storage::{
    Batch, BundleWrite, LeafRecord, LogSlot, LogStore, StoreError, StoredCheckpoint, join_bundle,
};
use mayfly_spec::tlog::Hash;
use mayfly_spec::tlog::tile::TileId;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use std::path::{Path, PathBuf};
use std::time::Duration;

mod index;

/// Rows per multi-row INSERT or IN (...) lookup: 4 parameters per leaf row stays well under
/// SQLite's 32766-parameter limit while amortising the per-statement round trip.
const ROWS_PER_STATEMENT: usize = 1000;

#[derive(Clone, Debug)]
pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
    /// The search index's file: its own writer connection (and write lock) and readers.
    index_writer: SqlitePool,
    index_readers: SqlitePool,
}

/// The search index's file for the log database at `path`: `mayfly.db` → `mayfly.index.db`.
pub fn index_path(path: &Path) -> PathBuf {
    path.with_extension("index.db")
}

/// Tables of the search index, emptied together when the index is cleared or found stale.
const INDEX_TABLES: [&str; 6] = [
    "index_positions",
    "index_counters",
    "index_terms",
    "index_postings",
    "index_certificates",
    "index_artifacts",
];

impl SqliteStore {
    /// Opens (creating if needed) the log database file and the index file beside it, and
    /// applies their migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let (writer, readers) =
            open_file(path, sqlx::migrate!("src/storage/migrations/sqlite")).await?;
        let (index_writer, index_readers) = open_file(
            &index_path(path),
            sqlx::migrate!("src/storage/migrations/sqlite-index"),
        )
        .await?;
        pair_index(&writer, &index_writer).await?;
        Ok(SqliteStore {
            writer,
            readers,
            index_writer,
            index_readers,
        })
    }

    /// Copies the WALs into the main files and truncates them, so file sizes reflect the data.
    pub async fn checkpoint_wal(&self) -> Result<(), StoreError> {
        for writer in [&self.writer, &self.index_writer] {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(writer)
                .await
                .map_err(backend)?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.index_readers.close().await;
        self.index_writer.close().await;
        self.readers.close().await;
        self.writer.close().await;
    }

    /// See [`super::Store::leaf_rows`].
    pub async fn leaf_rows(
        &self,
        log: LogSlot,
        after: Option<Hash>,
        limit: usize,
    ) -> Result<Vec<LeafRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT key, idx, ts FROM leaves WHERE log = ? AND key > ? ORDER BY key LIMIT ?",
        )
        .bind(i64::from(log.0))
        .bind(after.map_or_else(Vec::new, |h| h.0.to_vec()))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.readers)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(LeafRecord {
                    key: to_hash(row.try_get::<&[u8], _>("key").map_err(backend)?)?,
                    index: to_u64(row.try_get("idx").map_err(backend)?)?,
                    timestamp: to_u64(row.try_get("ts").map_err(backend)?)?,
                })
            })
            .collect()
    }

    /// See [`super::Store::is_empty`].
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        let logged: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM checkpoints) OR EXISTS (SELECT 1 FROM hash_tiles) \
             OR EXISTS (SELECT 1 FROM entry_bundles) OR EXISTS (SELECT 1 FROM entry_bundle_parts) \
             OR EXISTS (SELECT 1 FROM leaves)",
        )
        .fetch_one(&self.readers)
        .await
        .map_err(backend)?;
        let indexed: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM index_positions)")
            .fetch_one(&self.index_readers)
            .await
            .map_err(backend)?;
        Ok(!logged && !indexed)
    }

    /// Runs `sql` as is: tests that set up what no API writes.
    #[cfg(test)]
    pub(crate) async fn execute_raw(&self, sql: &str) -> Result<(), StoreError> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&self.writer)
            .await
            .map(drop)
            .map_err(backend)
    }
}

/// One SQLite file in WAL mode with `synchronous=FULL`, migrated: its writer (one connection)
/// and its readers.
async fn open_file(
    path: &Path,
    migrator: sqlx::migrate::Migrator,
) -> Result<(SqlitePool, SqlitePool), StoreError> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(10))
        // Statement journals (multi-row inserts and upserts inside a batch's transaction) stay
        // in memory instead of spilling to a temporary file: 4 % of the server's time under
        // dsse load went to writing them (BENCHMARKS.md, issue 16).
        .pragma("temp_store", "MEMORY");
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options.clone())
        .await
        .map_err(backend)?;
    migrator
        .run(&writer)
        .await
        .map_err(|e| super::migration_error(&format!("sqlite://{}", path.display()), e))?;
    let readers = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options.read_only(true))
        .await
        .map_err(backend)?;
    Ok((writer, readers))
}

/// Makes sure the index file answers for this log file, emptying it when it does not: when it
/// was built from another database (a copied or restored file: the identity tokens differ), or
/// from a longer version of this one (a log file restored from a backup older than the index:
/// some index position is past its log's checkpoint). Either way the indexer then rebuilds it
/// from the logs. A position at or below the checkpoint is a prefix of the same append-only
/// log, so it is kept and the indexer goes on from it.
async fn pair_index(log: &SqlitePool, index: &SqlitePool) -> Result<(), StoreError> {
    let token: Vec<u8> = sqlx::query_scalar("SELECT token FROM store_identity WHERE id = 1")
        .fetch_one(log)
        .await
        .map_err(backend)?;
    let sizes: Vec<(i64, i64)> = sqlx::query_as("SELECT log, size FROM checkpoints")
        .fetch_all(log)
        .await
        .map_err(backend)?;
    let mut tx = index.begin_with("BEGIN IMMEDIATE").await.map_err(backend)?;
    let owner: Option<Vec<u8>> = sqlx::query_scalar("SELECT token FROM index_owner WHERE id = 1")
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
    let positions: Vec<(i64, i64)> = sqlx::query_as("SELECT log, next FROM index_positions")
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
    let ahead = positions.iter().find(|(log, next)| {
        let size = sizes
            .iter()
            .find(|(l, _)| l == log)
            .map_or(0, |(_, size)| *size);
        *next > size
    });
    let stale = match (&owner, ahead) {
        (Some(owner), _) if *owner != token => {
            Some("it was built from another database".to_owned())
        }
        (_, Some((log, next))) => Some(format!(
            "it indexes {next} entries of log {log}, more than the log holds"
        )),
        _ => None,
    };
    if let Some(reason) = stale {
        tracing::warn!(%reason, "the search index file does not match the log database; emptying it, the indexer rebuilds it from the logs");
        clear_index(&mut tx).await?;
    }
    if owner.as_deref() != Some(token.as_slice()) {
        sqlx::query("INSERT OR REPLACE INTO index_owner (id, token) VALUES (1, ?)")
            .bind(&token)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    tx.commit().await.map_err(backend)
}

/// Empties every table of the search index, in the caller's transaction.
async fn clear_index(conn: &mut sqlx::SqliteConnection) -> Result<(), StoreError> {
    for table in INDEX_TABLES {
        // The table names are this module's constants, never input.
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
    }
    Ok(())
}

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

fn to_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::OutOfRange(n))
}

fn to_u64(n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative stored integer {n}")))
}

fn to_hash(bytes: &[u8]) -> Result<Hash, StoreError> {
    Hash::from_slice(bytes)
        .ok_or_else(|| StoreError::Corrupt(format!("stored hash of {} bytes", bytes.len())))
}

impl LogStore for SqliteStore {
    /// SQLite has one writer at a time anyway and, in practice, one process: processes sharing
    /// a file fall back on the compare-and-swap alone.
    type Turn = ();

    async fn begin_turn(&self, log: LogSlot) -> Result<((), Option<StoredCheckpoint>), StoreError> {
        Ok(((), self.checkpoint(log).await?))
    }

    async fn checkpoint(&self, log: LogSlot) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row = sqlx::query("SELECT size, root, note FROM checkpoints WHERE log = ?")
            .bind(i64::from(log.0))
            .fetch_optional(&self.readers)
            .await
            .map_err(backend)?;
        row.map(|r| {
            Ok(StoredCheckpoint {
                size: to_u64(r.try_get("size").map_err(backend)?)?,
                root: to_hash(r.try_get::<&[u8], _>("root").map_err(backend)?)?,
                note: r.try_get("note").map_err(backend)?,
            })
        })
        .transpose()
    }

    async fn hash_tile(&self, log: LogSlot, id: TileId) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar("SELECT data FROM hash_tiles WHERE log = ? AND level = ? AND idx = ?")
            .bind(i64::from(log.0))
            .bind(i64::from(id.level))
            .bind(to_i64(id.index)?)
            .fetch_optional(&self.readers)
            .await
            .map_err(backend)
    }

    async fn entry_bundle(&self, log: LogSlot, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        // A bundle is its parts, in order, which must tile it without gaps or overlaps; one
        // written whole (an import, or an earlier build's full bundle) is the single row at
        // offset 0. One statement, so one snapshot: a whole write that replaces parts cannot
        // fall between two reads and hide the bundle from both. Both at once cannot pass the
        // check below.
        let rows = sqlx::query(
            "SELECT 0 AS offset, data FROM entry_bundles WHERE log = ?1 AND idx = ?2 \
             UNION ALL \
             SELECT offset, data FROM entry_bundle_parts WHERE log = ?1 AND idx = ?2 \
             ORDER BY offset",
        )
        .bind(i64::from(log.0))
        .bind(to_i64(index)?)
        .fetch_all(&self.readers)
        .await
        .map_err(backend)?;
        // Borrowed from the rows, so each piece is copied once, into the joined bundle.
        let parts = rows
            .iter()
            .map(|row| Ok((row.try_get("offset")?, row.try_get::<&[u8], _>("data")?)))
            .collect::<Result<Vec<(i64, &[u8])>, sqlx::Error>>()
            .map_err(backend)?;
        join_bundle(index, parts.into_iter())
    }

    async fn lookup(
        &self,
        log: LogSlot,
        keys: &[Hash],
    ) -> Result<Vec<Option<LeafRecord>>, StoreError> {
        let mut found = std::collections::HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Sqlite>::new("SELECT key, idx, ts FROM leaves WHERE log = ");
            q.push_bind(i64::from(log.0)).push(" AND key IN (");
            let mut list = q.separated(", ");
            for key in chunk {
                list.push_bind(key.0.to_vec());
            }
            q.push(")");
            for row in q.build().fetch_all(&self.readers).await.map_err(backend)? {
                let key = to_hash(row.try_get::<&[u8], _>("key").map_err(backend)?)?;
                let index = to_u64(row.try_get("idx").map_err(backend)?)?;
                let timestamp = to_u64(row.try_get("ts").map_err(backend)?)?;
                found.insert(
                    key,
                    LeafRecord {
                        key,
                        index,
                        timestamp,
                    },
                );
            }
        }
        Ok(keys.iter().map(|k| found.get(k).copied()).collect())
    }

    async fn commit(&self, log: LogSlot, batch: &Batch) -> Result<(), StoreError> {
        let slot = i64::from(log.0);
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;

        // The compare-and-swap comes first so a losing writer touches nothing else.
        if let Some(cp) = &batch.checkpoint {
            let swapped = match batch.previous {
                None => sqlx::query("INSERT INTO checkpoints (log, size, root, note) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING")
                    .bind(slot)
                    .bind(to_i64(cp.size)?)
                    .bind(cp.root.0.to_vec())
                    .bind(&cp.note)
                    .execute(&mut *tx)
                    .await,
                Some((size, root)) => sqlx::query("UPDATE checkpoints SET size = ?, root = ?, note = ? WHERE log = ? AND size = ? AND root = ?")
                    .bind(to_i64(cp.size)?)
                    .bind(cp.root.0.to_vec())
                    .bind(&cp.note)
                    .bind(slot)
                    .bind(to_i64(size)?)
                    .bind(root.0.to_vec())
                    .execute(&mut *tx)
                    .await,
            }
            .map_err(backend)?;
            if swapped.rows_affected() != 1 {
                return Err(StoreError::Conflict);
            }
        }

        for chunk in batch.leaves.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Sqlite>::new("INSERT INTO leaves (log, key, idx, ts) ");
            let mut rows = Vec::with_capacity(chunk.len());
            for leaf in chunk {
                rows.push((
                    leaf.key.0.to_vec(),
                    to_i64(leaf.index)?,
                    to_i64(leaf.timestamp)?,
                ));
            }
            q.push_values(rows, |mut b, (key, idx, ts)| {
                b.push_bind(slot)
                    .push_bind(key)
                    .push_bind(idx)
                    .push_bind(ts);
            });
            q.build().execute(&mut *tx).await.map_err(|e| match &e {
                sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
                _ => backend(e),
            })?;
        }

        for (id, data) in &batch.tiles {
            sqlx::query(
                "INSERT OR REPLACE INTO hash_tiles (log, level, idx, data) VALUES (?, ?, ?, ?)",
            )
            .bind(slot)
            .bind(i64::from(id.level))
            .bind(to_i64(id.index)?)
            .bind(data.as_slice())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        for write in &batch.bundles {
            match write {
                BundleWrite::Complete { index, data } => {
                    let index = to_i64(*index)?;
                    sqlx::query(
                        "INSERT OR REPLACE INTO entry_bundles (log, idx, data) VALUES (?, ?, ?)",
                    )
                    .bind(slot)
                    .bind(index)
                    .bind(data.as_slice())
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    sqlx::query("DELETE FROM entry_bundle_parts WHERE log = ? AND idx = ?")
                        .bind(slot)
                        .bind(index)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                }
                BundleWrite::Append {
                    index,
                    offset,
                    data,
                } => {
                    // REPLACE: a batch retried after an in-doubt commit writes the same part.
                    sqlx::query(
                        "INSERT OR REPLACE INTO entry_bundle_parts (log, idx, offset, data) VALUES (?, ?, ?, ?)",
                    )
                    .bind(slot)
                    .bind(to_i64(*index)?)
                    .bind(to_i64(*offset)?)
                    .bind(data.as_slice())
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                }
            }
        }
        tx.commit().await.map_err(backend)
    }
}
