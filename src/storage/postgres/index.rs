//! The search index on PostgreSQL (tables in `0002_search_index.sql`), with the same queries as
//! on SQLite (see src/storage/sqlite/index.rs for how a search walks the postings).
//!
//! Several processes may index one database at once, so nothing relies on a single writer: the
//! position moves by `UPDATE … WHERE next = $from` (the loser blocks on the row, then matches
//! nothing and writes nothing), and term ids come from the table's identity sequence through
//! one upsert, never from a counter read earlier.

use super::{PgStore, backend, to_hash, to_i64, to_u64};
use crate::index::{ArtifactQuery, CertificateQuery, EntryDetail, IndexBatch, IndexStore, Term};
use crate::log::storage::{LogSlot, StoreError};
use crate::storage::terms::{Stored, stored_value};
use mayfly_spec::tlog::Hash;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use std::collections::{BTreeMap, HashMap};

/// A term as its row's key: (field, kind, value bytes); kind 0 is text, 1 bytes.
type TermKey = (i64, i16, Vec<u8>);

fn term_key(term: &Term) -> TermKey {
    let field = i64::from(term.field.code());
    match stored_value(term) {
        Stored::Text(text) => (field, 0, text.as_bytes().to_vec()),
        Stored::Blob(bytes) => (field, 1, bytes),
    }
}

/// A term's id and entry count, if any entry carries it.
async fn resolve(conn: &mut PgConnection, term: &Term) -> Result<Option<(i64, i64)>, StoreError> {
    let (field, kind, value) = term_key(term);
    let row = sqlx::query(
        "SELECT id, entries FROM index_terms WHERE field = $1 AND kind = $2 AND value = $3",
    )
    .bind(field)
    .bind(kind)
    .bind(value)
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
    conn: &mut PgConnection,
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

/// `AND EXISTS (...)` for every term after the driving one (`p0`).
fn push_other_terms(q: &mut QueryBuilder<Postgres>, ids: &[i64]) {
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

impl IndexStore for PgStore {
    async fn index_position(&self, log: LogSlot) -> Result<u64, StoreError> {
        let next: Option<i64> =
            sqlx::query_scalar("SELECT next FROM index_positions WHERE log = $1")
                .bind(i64::from(log.0))
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        next.map_or(Ok(0), to_u64)
    }

    async fn index_add(&self, log: LogSlot, batch: &IndexBatch) -> Result<(), StoreError> {
        let slot = i64::from(log.0);
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // The compare-and-swap first, so a losing indexer writes nothing. The row exists
        // before the UPDATE (a concurrent first insert waits for the other's commit), so the
        // UPDATE is what serialises two indexers of one log.
        sqlx::query(
            "INSERT INTO index_positions (log, next) VALUES ($1, 0) ON CONFLICT DO NOTHING",
        )
        .bind(slot)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let moved =
            sqlx::query("UPDATE index_positions SET next = $1 WHERE log = $2 AND next = $3")
                .bind(to_i64(batch.to)?)
                .bind(slot)
                .bind(to_i64(batch.from)?)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        if moved.rows_affected() != 1 {
            return Err(StoreError::Conflict);
        }

        // Each distinct term once, in key order (so two transactions upserting overlapping
        // terms lock them in the same order), with the entries that carry it.
        let mut by_term: BTreeMap<TermKey, Vec<i64>> = BTreeMap::new();
        for entry in &batch.entries {
            for term in &entry.terms {
                by_term
                    .entry(term_key(term))
                    .or_default()
                    .push(to_i64(entry.index)?);
            }
        }
        let mut ids: HashMap<TermKey, i64> = HashMap::with_capacity(by_term.len());
        if !by_term.is_empty() {
            let (mut fields, mut kinds, mut values, mut counts) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for ((field, kind, value), indexes) in &by_term {
                fields.push(*field);
                kinds.push(*kind);
                values.push(value.as_slice());
                counts.push(limit(indexes.len()));
            }
            let rows = sqlx::query(
                "INSERT INTO index_terms (field, kind, value, entries) \
                 SELECT * FROM UNNEST($1::BIGINT[], $2::SMALLINT[], $3::BYTEA[], $4::BIGINT[]) \
                 ON CONFLICT (field, kind, value) \
                 DO UPDATE SET entries = index_terms.entries + EXCLUDED.entries \
                 RETURNING field, kind, value, id",
            )
            .bind(fields)
            .bind(kinds)
            .bind(values)
            .bind(counts)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
            for row in rows {
                let key = (
                    row.try_get::<i64, _>(0).map_err(backend)?,
                    row.try_get::<i16, _>(1).map_err(backend)?,
                    row.try_get::<Vec<u8>, _>(2).map_err(backend)?,
                );
                ids.insert(key, row.try_get::<i64, _>(3).map_err(backend)?);
            }
        }
        let (mut terms, mut entries) = (Vec::new(), Vec::new());
        for (key, indexes) in &by_term {
            let id = *ids.get(key).ok_or_else(|| {
                StoreError::Corrupt("a search term's upsert returned no id".to_owned())
            })?;
            for idx in indexes {
                terms.push(id);
                entries.push(*idx);
            }
        }
        if !terms.is_empty() {
            sqlx::query(
                "INSERT INTO index_postings (term, idx) \
                 SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[])",
            )
            .bind(terms)
            .bind(entries)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }

        let (mut cert_idx, mut not_before) = (Vec::new(), Vec::new());
        let (mut artifact_idx, mut uuids) = (Vec::new(), Vec::new());
        for entry in &batch.entries {
            let idx = to_i64(entry.index)?;
            match entry.detail {
                EntryDetail::Certificate { not_before: nb } => {
                    cert_idx.push(idx);
                    not_before.push(nb);
                }
                EntryDetail::Artifact { uuid } => {
                    artifact_idx.push(idx);
                    uuids.push(uuid.0.to_vec());
                }
            }
        }
        if !cert_idx.is_empty() {
            sqlx::query(
                "INSERT INTO index_certificates (idx, not_before) \
                 SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[])",
            )
            .bind(cert_idx)
            .bind(not_before)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        if !artifact_idx.is_empty() {
            sqlx::query(
                "INSERT INTO index_artifacts (idx, uuid) \
                 SELECT * FROM UNNEST($1::BIGINT[], $2::BYTEA[])",
            )
            .bind(artifact_idx)
            .bind(uuids)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn index_clear(&self) -> Result<(), StoreError> {
        sqlx::query(
            "TRUNCATE index_positions, index_terms, index_postings, index_certificates, \
             index_artifacts",
        )
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn find_certificates(&self, query: &CertificateQuery) -> Result<Vec<u64>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        let Some(ids) = resolve_all(&mut conn, &query.terms).await? else {
            return Ok(Vec::new());
        };
        let timed = query.since.is_some() || query.until.is_some();
        let mut q = QueryBuilder::<Postgres>::new("");
        let column = match ids.first() {
            Some(first) => {
                q.push("SELECT p0.idx FROM index_postings p0");
                if timed {
                    q.push(" JOIN index_certificates c ON c.idx = p0.idx");
                }
                q.push(" WHERE p0.term = ").push_bind(*first);
                "p0.idx"
            }
            // No term: every certificate, in log order.
            None => {
                q.push("SELECT c.idx FROM index_certificates c WHERE TRUE");
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
        let mut conn = self.pool.acquire().await.map_err(backend)?;
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
        let mut q = QueryBuilder::<Postgres>::new("");
        if query.all {
            q.push("SELECT p0.idx, a.uuid FROM index_postings p0 JOIN index_artifacts a ON a.idx = p0.idx WHERE p0.term = ")
                .push_bind(*first);
            push_other_terms(&mut q, &ids);
        } else {
            q.push("SELECT DISTINCT p0.idx, a.uuid FROM index_postings p0 JOIN index_artifacts a ON a.idx = p0.idx WHERE p0.term = ANY(")
                .push_bind(ids.clone())
                .push(")");
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
