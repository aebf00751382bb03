//! Answers to searches: index look-ups turned into logged entries with inclusion proofs.
//!
//! Every answer is read from the log, not from the index: the index only says *where* to look,
//! and each certificate comes with the leaf it was rebuilt from and a proof against the one
//! checkpoint taken when the search started. A stale or wrong index can therefore make an
//! answer incomplete, never make it say something the log does not.

use super::{ArtifactQuery, CertificateQuery, IndexStore, Term};
use crate::log::storage::LogStore;
use crate::log::{Log, LogError};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mayfly_spec::audit::{self, AuditProof, AuditedCertificate, CertificatesPage};
use mayfly_spec::tlog::Hash;
use mayfly_spec::tlog::tile::{self, TILE_WIDTH};
use time::format_description::well_known::Rfc3339;

/// Leaves whose proofs are computed from one read of their tiles.
const PROOF_CHUNK: usize = 128;

/// Filters of a certificate search; every one given must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertificateFilters {
    pub terms: Vec<Term>,
    /// Inclusive bounds on notBefore, Unix seconds.
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// One page of matching certificates from log index `start` on, at most `limit`, in log order.
pub async fn certificate_page<S: LogStore + IndexStore>(
    log: &Log<S>,
    filters: &CertificateFilters,
    start: u64,
    limit: usize,
) -> Result<CertificatesPage, LogError> {
    let checkpoint = log.checkpoint();
    let mut found = log
        .store()
        .find_certificates(&CertificateQuery {
            terms: filters.terms.clone(),
            since: filters.since,
            until: filters.until,
            start,
            end: checkpoint.size,
            // One more than asked tells whether there is a next page, and where it starts.
            limit: limit.saturating_add(1),
        })
        .await?;
    let next_cursor = (found.len() > limit).then(|| found[limit].to_string());
    found.truncate(limit);

    let mut bundles = BundleCache::default();
    let mut certificates = Vec::with_capacity(found.len());
    let mut proofs = Vec::new();
    for (i, &index) in found.iter().enumerate() {
        // Proofs in chunks: each chunk reads the tiles it needs once, and the tiles held at a
        // time stay bounded whatever the page size.
        if i % PROOF_CHUNK == 0 {
            let chunk = &found[i..found.len().min(i + PROOF_CHUNK)];
            proofs = log.inclusion_proofs(chunk, checkpoint.size).await?;
            proofs.reverse();
        }
        let hashes = proofs
            .pop()
            .ok_or_else(|| LogError::Inconsistent("a proof went missing".into()))?;
        let leaf = bundles.entry(log, index).await?;
        let proof = AuditProof {
            log_index: index,
            tree_size: checkpoint.size,
            root_hash: checkpoint.root.to_hex(),
            hashes: hashes.iter().map(Hash::to_hex).collect(),
            checkpoint: checkpoint.note.clone(),
        };
        certificates.push(audited(index, &leaf, proof)?);
    }
    Ok(CertificatesPage {
        certificates,
        next_cursor,
    })
}

/// The certificate logged at `index`, with its inclusion proof against the current checkpoint;
/// `None` beyond the tree. Read from the log alone: a page for one entry needs no index.
pub async fn certificate_at<S: LogStore>(
    log: &Log<S>,
    index: u64,
) -> Result<Option<AuditedCertificate>, LogError> {
    let checkpoint = log.checkpoint();
    if index >= checkpoint.size {
        return Ok(None);
    }
    let Some(leaf) = log.entry(index).await? else {
        return Ok(None);
    };
    let hashes = log.inclusion_proof(index, checkpoint.size).await?;
    let proof = AuditProof {
        log_index: index,
        tree_size: checkpoint.size,
        root_hash: checkpoint.root.to_hex(),
        hashes: hashes.iter().map(Hash::to_hex).collect(),
        checkpoint: checkpoint.note.clone(),
    };
    audited(index, &leaf, proof).map(Some)
}

fn audited(index: u64, leaf: &[u8], proof: AuditProof) -> Result<AuditedCertificate, LogError> {
    let bad = |e: String| LogError::Inconsistent(format!("issuance entry {index}: {e}"));
    let parsed = mayfly_spec::ct::parse_precert_leaf(leaf).map_err(|e| bad(e.to_string()))?;
    let identity = audit::identity_from_tbs(parsed.entry.tbs).map_err(|e| bad(e.to_string()))?;
    let certificate =
        audit::certificate_from_tbs(parsed.entry.tbs).map_err(|e| bad(e.to_string()))?;
    Ok(AuditedCertificate {
        log_index: index,
        certificate: mayfly_spec::pem::encode("CERTIFICATE", &certificate),
        leaf: STANDARD.encode(leaf),
        timestamp: parsed.timestamp_ms,
        san: identity.san().to_owned(),
        issuer: identity.issuer.clone(),
        extensions: identity.extensions_by_name(),
        not_before: rfc3339(identity.not_before),
        not_after: rfc3339(identity.not_after),
        inclusion_proof: proof,
    })
}

/// RFC 3339 in UTC; a time outside what `time` represents (no certificate has one) is shown
/// as its Unix seconds.
pub fn rfc3339(unix_seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| unix_seconds.to_string())
}

/// The last entry bundle read: results come in log order, so neighbours share a bundle and
/// a page of N results costs about N / 256 bundle reads, not N.
#[derive(Default)]
pub struct BundleCache {
    index: Option<u64>,
    data: Vec<u8>,
}

impl BundleCache {
    pub async fn entry<S: LogStore>(
        &mut self,
        log: &Log<S>,
        index: u64,
    ) -> Result<Vec<u8>, LogError> {
        let bundle = index / TILE_WIDTH;
        if self.index != Some(bundle) {
            self.data = log
                .store()
                .entry_bundle(log.config().slot, bundle)
                .await?
                .ok_or_else(|| {
                    LogError::Inconsistent(format!("entry bundle {bundle} is missing"))
                })?;
            self.index = Some(bundle);
        }
        let entries =
            tile::split_entries(&self.data).map_err(|e| LogError::Inconsistent(e.to_string()))?;
        entries
            .get((index % TILE_WIDTH) as usize)
            .map(|e| e.to_vec())
            .ok_or_else(|| LogError::Inconsistent(format!("entry {index} is not in its bundle")))
    }
}

/// Why an artifact search could not be answered as asked.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactSearchError {
    #[error("more than {0} entries match; add criteria (with \"operator\": \"and\")")]
    TooMany(usize),
    #[error(transparent)]
    Log(#[from] LogError),
}

/// UUIDs of the artifact-log entries matching all (`all`) or any of `terms`, in log order;
/// refused, rather than cut short, past `max`.
pub async fn artifact_uuids<S: LogStore + IndexStore>(
    log: &Log<S>,
    terms: Vec<Term>,
    all: bool,
    max: usize,
) -> Result<Vec<Hash>, ArtifactSearchError> {
    let found = log
        .store()
        .find_artifacts(&ArtifactQuery {
            terms,
            all,
            start: 0,
            end: log.checkpoint().size,
            limit: max.saturating_add(1),
        })
        .await
        .map_err(LogError::from)?;
    if found.len() > max {
        return Err(ArtifactSearchError::TooMany(max));
    }
    Ok(found.into_iter().map(|(_, uuid)| uuid).collect())
}
