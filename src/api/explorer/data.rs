//! What the explorer's pages show, gathered from the logs, the index and the configuration.
//! No HTTP here and no markup: `pages.rs` renders these, `mod.rs` serves them.
//!
//! Every read is bounded: one entry, one proof, or an index look-up with a limit. Nothing here
//! walks a log, so each page costs the same at a million entries as at ten.

use super::super::{ApiError, AppState};
use crate::index::search::{self, rfc3339};
use crate::index::{ArtifactQuery, EntryDetail, Field, IndexStore, Term};
use crate::log::storage::StoredCheckpoint;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mayfly_spec::audit::AuditedCertificate;
use mayfly_spec::tlog::tile::TILE_WIDTH;
use mayfly_spec::tlog::{Hash, leaf_hash, proof::verify_inclusion};
use std::sync::Arc;

/// How many recent issuances the front page lists.
pub(super) const RECENT: u64 = 20;
/// Most artifact-log entries a certificate page looks at (candidates found by SAN).
const SIGNED_CANDIDATES: usize = 100;
/// How far before a certificate's issuance (its SCT time) its artifact entries are looked for.
/// An entry signed with it is integrated after the client got it back, on this same server's
/// clock, so the margin only absorbs a small clock step.
const CLOCK_MARGIN_MS: u64 = 1_000;

pub(super) struct LogView {
    pub(super) name: &'static str,
    pub(super) checkpoint: Arc<StoredCheckpoint>,
}

pub(super) struct CaView {
    pub(super) generation: u32,
    pub(super) active_from: Option<String>,
    /// (role, subject, notBefore, notAfter) of the root, then the intermediate.
    pub(super) certificates: Vec<(&'static str, String, String, String)>,
}

pub(super) struct Instance {
    pub(super) public_url: String,
    /// (issuer URL or pattern, type).
    pub(super) issuers: Vec<(String, &'static str)>,
    pub(super) authorities: Vec<CaView>,
    pub(super) logs: Vec<LogView>,
}

pub(super) fn instance(state: &AppState) -> Instance {
    let settings = state.issuer.settings();
    let issuers = settings
        .issuers
        .issuers()
        .chain(settings.issuers.meta_issuers())
        .map(|(url, entry)| (url.to_owned(), entry.issuer_type.as_str()))
        .collect();
    let authorities = state
        .issuer
        .authorities()
        .generations()
        .iter()
        .map(|g| CaView {
            generation: g.number,
            active_from: g.active_from.map(|t| rfc3339(t.unix_timestamp())),
            certificates: vec![
                describe("root", g.ca.chain().root_der()),
                describe("intermediate", g.ca.chain().intermediate_der()),
            ],
        })
        .collect();
    Instance {
        public_url: state.public_url.base(),
        issuers,
        authorities,
        logs: vec![
            LogView {
                name: "issuance",
                checkpoint: state.issuance.checkpoint(),
            },
            LogView {
                name: "artifacts",
                checkpoint: state.artifacts.checkpoint(),
            },
        ],
    }
}

fn describe(role: &'static str, der: &[u8]) -> (&'static str, String, String, String) {
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => (
            role,
            cert.subject().to_string(),
            rfc3339(cert.validity().not_before.timestamp()),
            rfc3339(cert.validity().not_after.timestamp()),
        ),
        // The chain was checked at start-up; say so rather than fail the page if it is not.
        Err(e) => (
            role,
            format!("(unreadable: {e})"),
            String::new(),
            String::new(),
        ),
    }
}

/// The last [`RECENT`] indexed issuances, newest first.
pub(super) async fn recent(state: &AppState) -> Result<Vec<AuditedCertificate>, ApiError> {
    let size = state.issuance.checkpoint().size;
    let page = search::certificate_page(
        &state.issuance,
        &Default::default(),
        size.saturating_sub(RECENT),
        RECENT as usize,
    )
    .await?;
    let mut certificates = page.certificates;
    certificates.reverse();
    Ok(certificates)
}

/// One certificate, whether its inclusion proof verified, and the artifact entries it signed.
pub(super) struct CertificateView {
    pub(super) certificate: AuditedCertificate,
    pub(super) proof: Result<(), String>,
    /// Every Fulcio extension as (last arc, value), in certificate order.
    pub(super) extensions: Vec<(u32, String)>,
    pub(super) signed: Vec<ArtifactView>,
    /// More entries name this SAN than were looked at.
    pub(super) capped: bool,
}

pub(super) async fn certificate(
    state: &AppState,
    index: u64,
) -> Result<Option<CertificateView>, ApiError> {
    let Some(certificate) = search::certificate_at(&state.issuance, index).await? else {
        return Ok(None);
    };
    let leaf = STANDARD
        .decode(&certificate.leaf)
        .map_err(|e| ApiError::Internal(format!("leaf base64: {e}")))?;
    let proof = check_proof(&leaf, &certificate);
    let logged_tbs = mayfly_spec::ct::parse_precert_leaf(&leaf)
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .entry
        .tbs
        .to_vec();
    let extensions = mayfly_spec::audit::identity_from_tbs(&logged_tbs)
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .extensions;
    let (signed, capped) =
        signed_with(state, &logged_tbs, &certificate.san, certificate.timestamp).await?;
    Ok(Some(CertificateView {
        certificate,
        proof,
        extensions,
        signed,
        capped,
    }))
}

/// Verifies the inclusion proof the page shows, as a client would: the leaf's hash, the
/// proof's hashes and the checkpoint's root, through `mayfly_spec::tlog`.
fn check_proof(leaf: &[u8], certificate: &AuditedCertificate) -> Result<(), String> {
    let proof = &certificate.inclusion_proof;
    let hex = |h: &str| Hash::from_hex(h).ok_or_else(|| format!("{h:?} is not a hash"));
    let hashes = proof
        .hashes
        .iter()
        .map(|h| hex(h))
        .collect::<Result<Vec<_>, _>>()?;
    let root = hex(&proof.root_hash)?;
    verify_inclusion(
        &leaf_hash(leaf),
        proof.log_index,
        proof.tree_size,
        &hashes,
        &root,
    )
    .map_err(|e| e.to_string())
}

/// Artifact-log entries whose verifier is this very certificate: candidates by SAN from the
/// index, from the first entry logged around the certificate's issuance on (an entry cannot
/// be signed with a certificate before it exists), at most [`SIGNED_CANDIDATES`] sharing bundle
/// reads; kept when the verifier's TBS without its SCTs is the logged one. Also whether the
/// candidates were capped.
async fn signed_with(
    state: &AppState,
    logged_tbs: &[u8],
    san: &str,
    issued_ms: u64,
) -> Result<(Vec<ArtifactView>, bool), ApiError> {
    let start = first_bundle_from(state, issued_ms.saturating_sub(CLOCK_MARGIN_MS)).await?;
    let found = state
        .artifacts
        .store()
        .find_artifacts(&ArtifactQuery {
            terms: vec![Term::new(Field::ArtifactSubject, san.to_lowercase())],
            all: true,
            start,
            end: state.artifacts.checkpoint().size,
            limit: SIGNED_CANDIDATES + 1,
        })
        .await
        .map_err(crate::log::LogError::from)?;
    let capped = found.len() > SIGNED_CANDIDATES;
    let mut bundles = search::BundleCache::default();
    let mut signed = Vec::new();
    for &(index, _) in found.iter().take(SIGNED_CANDIDATES) {
        let body = bundles.entry(&state.artifacts, index).await?;
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if verifier_tbs(&value).iter().any(|tbs| tbs == logged_tbs) {
            signed.push(summarise(state, index, &body).await?);
        }
    }
    Ok((signed, capped))
}

/// The first index of the last entry bundle whose first entry was integrated before
/// `time_ms`: every entry integrated at or after `time_ms` is at or past it. A binary search
/// over bundles, one bundle read per step (about 12 at a million entries). Integration times
/// only grow along the log (the sequencer stamps batches in order); if a clock step ever broke
/// that, the search still ends on a bundle and at worst misses candidates, never shows a wrong
/// one.
async fn first_bundle_from(state: &AppState, time_ms: u64) -> Result<u64, ApiError> {
    let log = &state.artifacts;
    let bundles = log.checkpoint().size.div_ceil(TILE_WIDTH);
    // Invariant: bundle `lo` starts before `time_ms` (or is bundle 0); bundles ≥ `hi` start at
    // or after it.
    let (mut lo, mut hi) = (0, bundles);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let Some(body) = log.entry(mid * TILE_WIDTH).await? else {
            return Ok(0);
        };
        match log.lookup(&leaf_hash(&body)).await? {
            Some(record) if record.timestamp >= time_ms => hi = mid,
            Some(_) => lo = mid,
            // No dedup record to date it by: search from the start rather than guess.
            None => return Ok(0),
        }
    }
    Ok(lo * TILE_WIDTH)
}

/// An artifact-log entry, summarised.
pub(super) struct ArtifactView {
    pub(super) index: u64,
    pub(super) uuid: String,
    pub(super) kind: String,
    pub(super) integrated: Option<String>,
    pub(super) digests: Vec<String>,
    pub(super) signers: Vec<String>,
}

pub(super) async fn artifact(
    state: &AppState,
    index: u64,
) -> Result<Option<ArtifactView>, ApiError> {
    let log = &state.artifacts;
    let Some(body) = log.entry(index).await? else {
        return Ok(None);
    };
    summarise(state, index, &body).await.map(Some)
}

async fn summarise(state: &AppState, index: u64, body: &[u8]) -> Result<ArtifactView, ApiError> {
    let log = &state.artifacts;
    // The index's own reading of the body gives the digests and signer SANs.
    let (indexed, _) = crate::index::extract::artifact(index, body);
    let uuid = match indexed.detail {
        EntryDetail::Artifact { uuid } => uuid,
        EntryDetail::Certificate { .. } => leaf_hash(body),
    };
    let integrated = log
        .lookup(&uuid)
        .await?
        .map(|record| rfc3339(i64::try_from(record.timestamp / 1000).unwrap_or(i64::MAX)));
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let pick = |field: Field| -> Vec<String> {
        indexed
            .terms
            .iter()
            .filter(|t| t.field == field)
            .map(|t| t.value.clone())
            .collect()
    };
    Ok(ArtifactView {
        index,
        uuid: uuid.to_hex(),
        // The genesis entry is in the log (monitors see it) but is not a Rekor entry: label it.
        kind: if mayfly_spec::tlog::genesis::is_genesis(&log.config().origin, index, body) {
            "genesis (the log's first entry, not a signature)".to_owned()
        } else {
            value["kind"].as_str().unwrap_or("(unknown)").to_owned()
        },
        integrated,
        digests: pick(Field::Digest),
        signers: pick(Field::ArtifactSubject),
    })
}

/// The signing-TBS of each verifier certificate a Rekor body names (keys are skipped).
fn verifier_tbs(body: &serde_json::Value) -> Vec<Vec<u8>> {
    let spec = &body["spec"];
    let mut verifiers = vec![&spec["signature"]["publicKey"]["content"]];
    for list in [
        &spec["signatures"],
        &spec["content"]["envelope"]["signatures"],
    ] {
        for signature in list.as_array().into_iter().flatten() {
            verifiers.push(&signature["verifier"]);
            verifiers.push(&signature["publicKey"]);
        }
    }
    verifiers
        .into_iter()
        .filter_map(|v| STANDARD.decode(v.as_str()?).ok())
        .filter_map(|pem| mayfly_spec::pem::decode(&pem).ok())
        .filter(|(label, _)| label == "CERTIFICATE")
        .filter_map(|(_, der)| mayfly_spec::ct::final_cert_signing_tbs(&der).ok())
        .collect()
}
