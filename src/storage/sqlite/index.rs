//! The search index on SQLite, in a file of its own ([`super::index_path`]; tables in
//! `migrations/sqlite-index/0001_search_index.sql`).
//!
//! Writes go through that file's one writer connection, one transaction per batch. Searches
//! resolve each term to its id first (a missing term means no match), then walk the rarest
//! term's postings in log order and probe the others by primary key, so a page costs about
//! `limit` probes per term whatever the index size.

use super::{ROWS_PER_STATEMENT, SqliteStore, backend, clear_index, to_hash, to_i64, to_u64};
use crate::index::{ArtifactQuery, CertificateQuery, EntryDetail, IndexBatch, IndexStore, Term};
use crate::log::storage::{LogSlot, StoreError};
use crate::storage::terms::{Stored, stored_value};
use mayfly_spec::tlog::Hash;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use std::collections::BTreeMap;

fn bind_value<'q>(
    query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>,
    value: &'q Stored<'q>,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments> {
    match value {
        Stored::Text(text) => query.bind(*text),
        Stored::Blob(bytes) => query.bind(bytes.as_slice()),
    }
}

/// A term's id and entry count, if any entry carries it.
async fn resolve(
    conn: &mut SqliteConnection,
    term: &Term,
) -> Result<Option<(i64, i64)>, StoreError> {
    let value = stored_value(term);
    let query = sqlx::query("SELECT id, entries FROM index_terms WHERE field = ? AND value = ?")
        .bind(i64::from(term.field.code()));
    let row = bind_value(query, &value)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
    row.map(|r| {
        Ok((
            r.try_get::<i64, _>(0).map_err(backend)?,
            r.try_get::<i64, _>(1).map_err(backend)?,
        ))
    })
    .transpose()
}

/// The ids of `terms`, rarest first; `None` if some term is carried by no entry.
async fn resolve_all(
    conn: &mut SqliteConnection,
    terms: &[Term],
) -> Result<Option<Vec<i64>>, StoreError> {
    let mut found = Vec::with_capacity(terms.len());
    for term in terms {
        match resolve(conn, term).await? {
            Some(row) => found.push(row),
            None => return Ok(None),
        }
    }
    found.sort_by_key(|(_, entries)| *entries);
    found.dedup();
    Ok(Some(found.into_iter().map(|(id, _)| id).collect()))
}

/// Terms per statement when a batch's terms are looked up or written: 2 or 4 parameters each,
/// and a compound SELECT of at most SQLite's 500 parts.
const TERMS_PER_STATEMENT: usize = 250;

/// The id of each of `terms` that the index already has, in order: one statement per
/// [`TERMS_PER_STATEMENT`] terms, each part a primary-key probe tagged with its position.
async fn known_ids(
    conn: &mut SqliteConnection,
    terms: &[(&Term, Stored<'_>, &Vec<i64>)],
) -> Result<Vec<Option<i64>>, StoreError> {
    let mut ids = vec![None; terms.len()];
    for (chunk_number, chunk) in terms.chunks(TERMS_PER_STATEMENT).enumerate() {
        let offset = chunk_number * TERMS_PER_STATEMENT;
        let mut q = QueryBuilder::<Sqlite>::new("");
        for (i, (term, value, _)) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(" UNION ALL ");
            }
            q.push(format!(
                "SELECT {} AS k, id FROM index_terms WHERE field = ",
                offset + i
            ));
            q.push_bind(i64::from(term.field.code()));
            q.push(" AND value = ");
            match value {
                Stored::Text(text) => q.push_bind(*text),
                Stored::Blob(bytes) => q.push_bind(bytes.as_slice()),
            };
        }
        for row in q.build().fetch_all(&mut *conn).await.map_err(backend)? {
            let k: i64 = row.try_get(0).map_err(backend)?;
            let slot = usize::try_from(k)
                .ok()
                .and_then(|k| ids.get_mut(k))
                .ok_or_else(|| StoreError::Corrupt(format!("term lookup answered position {k}")))?;
            *slot = Some(row.try_get(1).map_err(backend)?);
        }
    }
    Ok(ids)
}

/// `AND EXISTS (...)` for every term after the driving one (`p0`).
fn push_other_terms(q: &mut QueryBuilder<Sqlite>, ids: &[i64]) {
    for (i, id) in ids.iter().enumerate().skip(1) {
        q.push(format!(
            " AND EXISTS (SELECT 1 FROM index_postings p{i} WHERE p{i}.term = "
        ));
        q.push_bind(*id);
        q.push(format!(" AND p{i}.idx = p0.idx)"));
    }
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl IndexStore for SqliteStore {
    async fn index_position(&self, log: LogSlot) -> Result<u64, StoreError> {
        let next: Option<i64> =
            sqlx::query_scalar("SELECT next FROM index_positions WHERE log = ?")
                .bind(i64::from(log.0))
                .fetch_optional(&self.index_readers)
                .await
                .map_err(backend)?;
        next.map_or(Ok(0), to_u64)
    }

    async fn index_add(&self, log: LogSlot, batch: &IndexBatch) -> Result<(), StoreError> {
        let slot = i64::from(log.0);
        let mut tx = self
            .index_writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        // The compare-and-swap first, so a losing indexer writes nothing.
        let stored: Option<i64> =
            sqlx::query_scalar("SELECT next FROM index_positions WHERE log = ?")
                .bind(slot)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
        if stored.unwrap_or(0) != to_i64(batch.from)? {
            return Err(StoreError::Conflict);
        }
        sqlx::query(
            "INSERT INTO index_positions (log, next) VALUES (?, ?) \
             ON CONFLICT (log) DO UPDATE SET next = excluded.next",
        )
        .bind(slot)
        .bind(to_i64(batch.to)?)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;

        // Each distinct term once: its id (new ones from the counter) and its new entries.
        // A few statements per batch whatever its size: each is a round trip to the writer
        // connection's thread, and the transaction holds the index file's write lock.
        let mut by_term: BTreeMap<&Term, Vec<i64>> = BTreeMap::new();
        for entry in &batch.entries {
            for term in &entry.terms {
                by_term.entry(term).or_default().push(to_i64(entry.index)?);
            }
        }
        let terms: Vec<(&Term, Stored<'_>, &Vec<i64>)> = by_term
            .iter()
            .map(|(term, indexes)| (*term, stored_value(term), indexes))
            .collect();
        let known = known_ids(&mut tx, &terms).await?;
        let mut next_id: i64 =
            sqlx::query_scalar("SELECT value FROM index_counters WHERE name = 'term'")
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?
                .unwrap_or(1);
        let ids: Vec<i64> = known
            .iter()
            .map(|id| {
                id.unwrap_or_else(|| {
                    next_id += 1;
                    next_id - 1
                })
            })
            .collect();
        // New terms are inserted with their new id; known ones keep theirs and count the new
        // entries.
        let rows: Vec<_> = terms.iter().zip(&ids).collect();
        for chunk in rows.chunks(TERMS_PER_STATEMENT) {
            let mut q =
                QueryBuilder::<Sqlite>::new("INSERT INTO index_terms (field, value, id, entries) ");
            q.push_values(chunk, |mut b, ((term, value, indexes), id)| {
                b.push_bind(i64::from(term.field.code()));
                match value {
                    Stored::Text(text) => b.push_bind(*text),
                    Stored::Blob(bytes) => b.push_bind(bytes.as_slice()),
                };
                b.push_bind(**id).push_bind(limit(indexes.len()));
            });
            q.push(
                " ON CONFLICT (field, value) DO UPDATE SET entries = entries + excluded.entries",
            );
            q.build().execute(&mut *tx).await.map_err(backend)?;
        }
        let postings: Vec<(i64, i64)> = terms
            .iter()
            .zip(&ids)
            .flat_map(|((_, _, indexes), id)| indexes.iter().map(move |idx| (*id, *idx)))
            .collect();
        sqlx::query(
            "INSERT INTO index_counters (name, value) VALUES ('term', ?) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(next_id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;

        for chunk in postings.chunks(ROWS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Sqlite>::new("INSERT INTO index_postings (term, idx) ");
            q.push_values(chunk, |mut b, (term, idx)| {
                b.push_bind(*term).push_bind(*idx);
            });
            q.build().execute(&mut *tx).await.map_err(backend)?;
        }
        for chunk in batch.entries.chunks(ROWS_PER_STATEMENT) {
            let mut certificates = Vec::new();
            let mut artifacts = Vec::new();
            for entry in chunk {
                let idx = to_i64(entry.index)?;
                match entry.detail {
                    EntryDetail::Certificate { not_before } => certificates.push((idx, not_before)),
                    EntryDetail::Artifact { uuid } => artifacts.push((idx, uuid.0.to_vec())),
                }
            }
            if !certificates.is_empty() {
                let mut q = QueryBuilder::<Sqlite>::new(
                    "INSERT INTO index_certificates (idx, not_before) ",
                );
                q.push_values(certificates, |mut b, (idx, nb)| {
                    b.push_bind(idx).push_bind(nb);
                });
                q.build().execute(&mut *tx).await.map_err(backend)?;
            }
            if !artifacts.is_empty() {
                let mut q = QueryBuilder::<Sqlite>::new("INSERT INTO index_artifacts (idx, uuid) ");
                q.push_values(artifacts, |mut b, (idx, uuid)| {
                    b.push_bind(idx).push_bind(uuid);
                });
                q.build().execute(&mut *tx).await.map_err(backend)?;
            }
        }
        tx.commit().await.map_err(backend)
    }

    async fn index_clear(&self) -> Result<(), StoreError> {
        let mut tx = self
            .index_writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        clear_index(&mut tx).await?;
        tx.commit().await.map_err(backend)
    }

    async fn find_certificates(&self, query: &CertificateQuery) -> Result<Vec<u64>, StoreError> {
        let mut conn = self.index_readers.acquire().await.map_err(backend)?;
        let Some(ids) = resolve_all(&mut conn, &query.terms).await? else {
            return Ok(Vec::new());
        };
        let timed = query.since.is_some() || query.until.is_some();
        let mut q = QueryBuilder::<Sqlite>::new("");
        let column = match ids.first() {
            Some(first) => {
                q.push("SELECT p0.idx FROM index_postings p0");
                if timed {
                    q.push(" JOIN index_certificates c ON c.idx = p0.idx");
                }
                q.push(" WHERE p0.term = ").push_bind(*first);
                "p0.idx"
            }
            // No term: every certificate, in log order. A bounded time window is found through
            // the notBefore index and sorted (cost: the certificates in the window); anything
            // else walks the log in order and stops at the limit. SQLite's planner prefers the
            // walk even for a narrow window late in a large log, which reads every older row
            // (0.2 s at a million certificates, against 0.03 s this way; BENCHMARKS.md).
            None => {
                q.push("SELECT c.idx FROM index_certificates c");
                if query.since.is_some() && query.until.is_some() {
                    q.push(" INDEXED BY index_certificates_not_before");
                }
                q.push(" WHERE 1");
                "c.idx"
            }
        };
        q.push(format!(" AND {column} >= "))
            .push_bind(to_i64(query.start)?);
        q.push(format!(" AND {column} < "))
            .push_bind(to_i64(query.end)?);
        push_other_terms(&mut q, &ids);
        if let Some(since) = query.since {
            q.push(" AND c.not_before >= ").push_bind(since);
        }
        if let Some(until) = query.until {
            q.push(" AND c.not_before <= ").push_bind(until);
        }
        q.push(format!(" ORDER BY {column} LIMIT "))
            .push_bind(limit(query.limit));
        let rows: Vec<i64> = q
            .build_query_scalar()
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?;
        rows.into_iter().map(to_u64).collect()
    }

    async fn find_artifacts(&self, query: &ArtifactQuery) -> Result<Vec<(u64, Hash)>, StoreError> {
        let mut conn = self.index_readers.acquire().await.map_err(backend)?;
        let ids = if query.all {
            match resolve_all(&mut conn, &query.terms).await? {
                Some(ids) => ids,
                None => return Ok(Vec::new()),
            }
        } else {
            let mut ids = Vec::new();
            for term in &query.terms {
                ids.extend(resolve(&mut conn, term).await?.map(|(id, _)| id));
            }
            ids
        };
        let Some(first) = ids.first() else {
            return Ok(Vec::new());
        };
        let mut q = QueryBuilder::<Sqlite>::new("");
        if query.all {
            q.push("SELECT p0.idx, a.uuid FROM index_postings p0 JOIN index_artifacts a ON a.idx = p0.idx WHERE p0.term = ")
                .push_bind(*first);
            push_other_terms(&mut q, &ids);
        } else {
            q.push("SELECT DISTINCT p0.idx, a.uuid FROM index_postings p0 JOIN index_artifacts a ON a.idx = p0.idx WHERE p0.term IN (");
            let mut list = q.separated(", ");
            for id in &ids {
                list.push_bind(*id);
            }
            q.push(")");
        }
        q.push(" AND p0.idx >= ").push_bind(to_i64(query.start)?);
        q.push(" AND p0.idx < ").push_bind(to_i64(query.end)?);
        q.push(" ORDER BY p0.idx LIMIT ")
            .push_bind(limit(query.limit));
        let rows: Vec<(i64, Vec<u8>)> = q
            .build_query_as()
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?;
        rows.into_iter()
            .map(|(idx, uuid)| Ok((to_u64(idx)?, to_hash(&uuid)?)))
            .collect()
    }
}
