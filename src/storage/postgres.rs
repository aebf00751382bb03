//! The log store on PostgreSQL: the same tables and contracts as SQLite, for instances that
//! want a database server (or several Mayfly processes on one database).
//!
//! Every commit is one transaction at PostgreSQL's default READ COMMITTED with
//! `synchronous_commit` left on, so `Ok` means durable. The checkpoint's compare-and-swap is an
//! `UPDATE … WHERE size = $ AND root = $`: a second writer blocks on the row lock, re-reads the
//! row the first one committed, matches nothing and gets [`StoreError::Conflict`]. Bulk rows go
//! as arrays through `UNNEST`, one statement per table whatever the batch size (no parameter
//! limit to mind). Reads that must see one snapshot are one statement.
//!
//! A writer's turn is a session advisory lock keyed by schema and log, held on a connection of
//! its own from before the checkpoint is read until the batch is committed. PostgreSQL queues
//! lock waiters in order, so replicas take turns instead of racing: under steady load from
//! three replicas, the optimistic compare-and-swap alone let one of them lose sixteen rounds
//! in a row again and again. The lock dies with the session, so a killed replica's turn ends
//! with its connection.

use crate::log::storage::{
    Batch, BundleWrite, LeafRecord, LogSlot, LogStore, StoreError, StoredCheckpoint, join_bundle,
};
use mayfly_spec::tlog::Hash;
use mayfly_spec::tlog::tile::TileId;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{Connection, PgPool, Postgres, Row};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

mod index;

/// Connections per process: the sequencer's one writer per log and its turn, the indexers, and
/// readers for the HTTP API. PostgreSQL's default limit is 100 for every client together.
const MAX_CONNECTIONS: u32 = 12;

/// The leaf rows of some keys: one primary-key probe per key, whatever the table's statistics
/// say. The plain `log = $1 AND key = ANY($2)` is planned from them: on a log that grew faster
/// than autovacuum analyzes it (a new or freshly migrated instance under load), equality on
/// `log` looks selective, and the plan read every row of the log for each batch, which halved
/// dsse throughput (BENCHMARKS.md, issue 16, fourth round). `OFFSET 0` keeps the subquery from
/// being flattened into a join the planner could choose to hash.
const LOOKUP: &str = "SELECT l.key, l.idx, l.ts FROM UNNEST($2::BYTEA[]) AS k(key), \
     LATERAL (SELECT key, idx, ts FROM leaves WHERE log = $1 AND key = k.key OFFSET 0) AS l";

/// A log's writer turn is the advisory lock keyed by the schema (so instances and tests in other
/// schemas of one database do not queue behind each other) and the log slot.
const LOCK_TURN: &str = "SELECT pg_advisory_lock(hashtext('mayfly.' || current_schema()), $1)";
const UNLOCK_TURN: &str = "SELECT pg_advisory_unlock(hashtext('mayfly.' || current_schema()), $1)";

/// Keys per `= ANY($)` lookup: bounds one statement's size, not a parameter count.
const KEYS_PER_STATEMENT: usize = 10_000;

#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to the database at `url` (which must exist) and applies migrations. Errors
    /// name the URL without its password.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let shown = super::redact(url);
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("--database-url {shown}: {e}")))?;
        // One connection first, alone: the pool retries a refused connection until its
        // timeout and then reports only that it timed out, while this says why at once.
        let cannot_connect = |e: sqlx::Error| match e {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => StoreError::Unavailable(format!(
                "cannot connect to {shown}: {e}; is the server running?"
            )),
            // invalid_catalog_name: Mayfly creates its tables, never the database itself.
            sqlx::Error::Database(db) if db.code().as_deref() == Some("3D000") => {
                StoreError::Unavailable(format!(
                    "cannot connect to {shown}: {}; create it first (createdb)",
                    db.message()
                ))
            }
            e => StoreError::Unavailable(format!("cannot connect to {shown}: {e}")),
        };
        let probe = PgConnection::connect_with(&options)
            .await
            .map_err(cannot_connect)?;
        let _ = probe.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(cannot_connect)?;
        sqlx::migrate!("src/storage/migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| super::migration_error(&shown, e))?;
        Ok(PgStore { pool })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// See [`super::Store::leaf_rows`].
    pub async fn leaf_rows(
        &self,
        log: LogSlot,
        after: Option<Hash>,
        limit: usize,
    ) -> Result<Vec<LeafRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT key, idx, ts FROM leaves WHERE log = $1 AND key > $2 ORDER BY key LIMIT $3",
        )
        .bind(i64::from(log.0))
        .bind(after.map_or_else(Vec::new, |h| h.0.to_vec()))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(leaf_record).collect()
    }

    /// See [`super::Store::is_empty`].
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        let any: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM checkpoints) OR EXISTS (SELECT 1 FROM hash_tiles) \
             OR EXISTS (SELECT 1 FROM entry_bundles) OR EXISTS (SELECT 1 FROM entry_bundle_parts) \
             OR EXISTS (SELECT 1 FROM leaves) OR EXISTS (SELECT 1 FROM index_positions)",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok(!any)
    }

    /// PostgreSQL's account of running [`LOOKUP`] for `keys`: `EXPLAIN ANALYZE`, one line per
    /// row.
    #[cfg(test)]
    pub(crate) async fn explain_lookup(
        &self,
        log: LogSlot,
        keys: &[Hash],
    ) -> Result<Vec<String>, StoreError> {
        let wanted: Vec<Vec<u8>> = keys.iter().map(|k| k.0.to_vec()).collect();
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN ANALYZE {LOOKUP}")))
            .bind(i64::from(log.0))
            .bind(wanted)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)
    }

    /// Runs `sql` as is: tests that set up what no API writes.
    #[cfg(test)]
    pub(crate) async fn execute_raw(&self, sql: &str) -> Result<(), StoreError> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(backend)
    }
}

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// A unique violation means another writer inserted the row first.
fn conflict_or_backend(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
        _ => backend(e),
    }
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

fn leaf_record(row: &sqlx::postgres::PgRow) -> Result<LeafRecord, StoreError> {
    Ok(LeafRecord {
        key: to_hash(row.try_get::<&[u8], _>("key").map_err(backend)?)?,
        index: to_u64(row.try_get("idx").map_err(backend)?)?,
        timestamp: to_u64(row.try_get("ts").map_err(backend)?)?,
    })
}

/// A held writer turn: the connection whose session holds the advisory lock.
pub struct PgTurn {
    conn: Option<PoolConnection<Postgres>>,
    slot: i32,
}

impl Drop for PgTurn {
    /// Unlocks on the connection before it goes back to the pool. Drop cannot wait, so the
    /// unlock runs as a task; where no runtime is left, the connection is closed instead, which
    /// ends the lock with the session. A connection whose unlock fails is closed too: a pooled
    /// connection must never carry a lock.
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let slot = self.slot;
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let unlocked: Result<bool, _> = sqlx::query_scalar(UNLOCK_TURN)
                        .bind(slot)
                        .fetch_one(&mut *conn)
                        .await;
                    if !matches!(unlocked, Ok(true)) {
                        conn.close_on_drop();
                    }
                });
            }
            Err(_) => conn.close_on_drop(),
        }
    }
}

fn stored_checkpoint(r: &sqlx::postgres::PgRow) -> Result<StoredCheckpoint, StoreError> {
    Ok(StoredCheckpoint {
        size: to_u64(r.try_get("size").map_err(backend)?)?,
        root: to_hash(r.try_get::<&[u8], _>("root").map_err(backend)?)?,
        note: r.try_get("note").map_err(backend)?,
    })
}

impl LogStore for PgStore {
    type Turn = PgTurn;

    async fn begin_turn(
        &self,
        log: LogSlot,
    ) -> Result<(PgTurn, Option<StoredCheckpoint>), StoreError> {
        let slot = i32::from(log.0);
        // The turn owns the connection before the lock is taken, so that however this ends
        // (an error, or the future dropped mid-way) the lock cannot go back to the pool held.
        let mut turn = PgTurn {
            conn: Some(self.pool.acquire().await.map_err(backend)?),
            slot,
        };
        let Some(conn) = turn.conn.as_deref_mut() else {
            return Err(StoreError::Unavailable(
                "no connection for the writer turn".into(),
            ));
        };
        sqlx::query(LOCK_TURN)
            .bind(slot)
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        // A statement of its own after the lock: its snapshot is taken once the lock is held,
        // so it sees every commit of the turn before.
        let row = sqlx::query("SELECT size, root, note FROM checkpoints WHERE log = $1")
            .bind(i64::from(log.0))
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
        let stored = row.as_ref().map(stored_checkpoint).transpose()?;
        Ok((turn, stored))
    }

    async fn checkpoint(&self, log: LogSlot) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row = sqlx::query("SELECT size, root, note FROM checkpoints WHERE log = $1")
            .bind(i64::from(log.0))
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(stored_checkpoint).transpose()
    }

    async fn hash_tile(&self, log: LogSlot, id: TileId) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar("SELECT data FROM hash_tiles WHERE log = $1 AND level = $2 AND idx = $3")
            .bind(i64::from(log.0))
            .bind(i64::from(id.level))
            .bind(to_i64(id.index)?)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)
    }

    async fn entry_bundle(&self, log: LogSlot, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        // As on SQLite: a bundle is its parts, which must tile it without gaps or overlaps, or
        // (written whole) the single row at offset 0; one statement, so one snapshot.
        let rows = sqlx::query(
            "SELECT 0::BIGINT AS byte_offset, data FROM entry_bundles WHERE log = $1 AND idx = $2 \
             UNION ALL \
             SELECT byte_offset, data FROM entry_bundle_parts WHERE log = $1 AND idx = $2 \
             ORDER BY byte_offset",
        )
        .bind(i64::from(log.0))
        .bind(to_i64(index)?)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        // Borrowed from the rows, as on SQLite: each piece is copied once, into the bundle.
        let parts = rows
            .iter()
            .map(|row| {
                Ok((
                    row.try_get("byte_offset")?,
                    row.try_get::<&[u8], _>("data")?,
                ))
            })
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
        for chunk in keys.chunks(KEYS_PER_STATEMENT) {
            let wanted: Vec<Vec<u8>> = chunk.iter().map(|k| k.0.to_vec()).collect();
            let rows = sqlx::query(LOOKUP)
                .bind(i64::from(log.0))
                .bind(wanted)
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
            for row in &rows {
                let record = leaf_record(row)?;
                found.insert(record.key, record);
            }
        }
        Ok(keys.iter().map(|k| found.get(k).copied()).collect())
    }

    async fn commit(&self, log: LogSlot, batch: &Batch) -> Result<(), StoreError> {
        let slot = i64::from(log.0);
        let mut tx = self.pool.begin().await.map_err(backend)?;

        // The compare-and-swap comes first so a losing writer touches nothing else; its
        // transaction rolls back when `tx` drops.
        if let Some(cp) = &batch.checkpoint {
            let swapped =
                match batch.previous {
                    None => sqlx::query(
                        "INSERT INTO checkpoints (log, size, root, note) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT DO NOTHING",
                    )
                    .bind(slot)
                    .bind(to_i64(cp.size)?)
                    .bind(cp.root.0.to_vec())
                    .bind(&cp.note)
                    .execute(&mut *tx)
                    .await,
                    Some((size, root)) => {
                        sqlx::query(
                            "UPDATE checkpoints SET size = $1, root = $2, note = $3 \
                     WHERE log = $4 AND size = $5 AND root = $6",
                        )
                        .bind(to_i64(cp.size)?)
                        .bind(cp.root.0.to_vec())
                        .bind(&cp.note)
                        .bind(slot)
                        .bind(to_i64(size)?)
                        .bind(root.0.to_vec())
                        .execute(&mut *tx)
                        .await
                    }
                }
                .map_err(backend)?;
            if swapped.rows_affected() != 1 {
                return Err(StoreError::Conflict);
            }
        }

        if !batch.leaves.is_empty() {
            let mut keys = Vec::with_capacity(batch.leaves.len());
            let mut indexes = Vec::with_capacity(batch.leaves.len());
            let mut times = Vec::with_capacity(batch.leaves.len());
            for leaf in &batch.leaves {
                keys.push(leaf.key.0.to_vec());
                indexes.push(to_i64(leaf.index)?);
                times.push(to_i64(leaf.timestamp)?);
            }
            sqlx::query(
                "INSERT INTO leaves (log, key, idx, ts) \
                 SELECT $1, * FROM UNNEST($2::BYTEA[], $3::BIGINT[], $4::BIGINT[])",
            )
            .bind(slot)
            .bind(keys)
            .bind(indexes)
            .bind(times)
            .execute(&mut *tx)
            .await
            .map_err(conflict_or_backend)?;
        }

        if !batch.tiles.is_empty() {
            // One row per tile: an upsert may not touch a row twice in one statement, and the
            // latest version of a tile in the list is the one to keep (as on SQLite).
            let latest: BTreeMap<(u8, u64), &Vec<u8>> = batch
                .tiles
                .iter()
                .map(|(id, data)| ((id.level, id.index), data))
                .collect();
            let mut levels = Vec::with_capacity(latest.len());
            let mut indexes = Vec::with_capacity(latest.len());
            let mut datas = Vec::with_capacity(latest.len());
            for ((level, index), data) in latest {
                levels.push(i64::from(level));
                indexes.push(to_i64(index)?);
                datas.push(data.as_slice());
            }
            sqlx::query(
                "INSERT INTO hash_tiles (log, level, idx, data) \
                 SELECT $1, * FROM UNNEST($2::BIGINT[], $3::BIGINT[], $4::BYTEA[]) \
                 ON CONFLICT (log, level, idx) DO UPDATE SET data = EXCLUDED.data",
            )
            .bind(slot)
            .bind(levels)
            .bind(indexes)
            .bind(datas)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }

        for write in &batch.bundles {
            match write {
                BundleWrite::Complete { index, data } => {
                    let index = to_i64(*index)?;
                    sqlx::query(
                        "INSERT INTO entry_bundles (log, idx, data) VALUES ($1, $2, $3) \
                         ON CONFLICT (log, idx) DO UPDATE SET data = EXCLUDED.data",
                    )
                    .bind(slot)
                    .bind(index)
                    .bind(data.as_slice())
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    sqlx::query("DELETE FROM entry_bundle_parts WHERE log = $1 AND idx = $2")
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
                    // An upsert: a batch retried after an in-doubt commit writes the same part.
                    sqlx::query(
                        "INSERT INTO entry_bundle_parts (log, idx, byte_offset, data) \
                         VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (log, idx, byte_offset) DO UPDATE SET data = EXCLUDED.data",
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
