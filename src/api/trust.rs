//! `/trust/*`: what Sigstore clients need to trust this instance and to sign with it.
//!
//! - `GET /trust/trusted_root.json`: CA chain, the artifact and Rekor v2 logs (`tlogs`), the
//!   issuance log (`ctlogs`), the timestamp authority (`timestampAuthorities`).
//! - `GET /trust/signing_config.json`: signing config v0.2 (CA, Rekor v2 and v1, TSA, dev issuer
//!   if on).
//! - `GET /trust/signing_config.v2.json`: an alias of it (its former opt-in name).
//! - `GET /trust/client_trust_config.json`: both, for sigstore-python's `--trust-config`.
//!
//! The bytes are exactly what `mayfly trust` writes for the same data dir and public URL.

use super::{ApiError, SharedState};
use crate::trust::{
    CLIENT_TRUST_CONFIG_FILE, CaGeneration, SIGNING_CONFIG_FILE, SIGNING_CONFIG_V2_FILE,
    TRUSTED_ROOT_FILE, TrustDocuments, TrustInputs,
};
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub(super) fn router() -> Router<SharedState> {
    Router::new()
        .route(
            "/trust/trusted_root.json",
            get(async |s: State<SharedState>| document(&s, TRUSTED_ROOT_FILE)),
        )
        .route(
            "/trust/signing_config.json",
            get(async |s: State<SharedState>| document(&s, SIGNING_CONFIG_FILE)),
        )
        .route(
            "/trust/signing_config.v2.json",
            get(async |s: State<SharedState>| document(&s, SIGNING_CONFIG_V2_FILE)),
        )
        .route(
            "/trust/client_trust_config.json",
            get(async |s: State<SharedState>| document(&s, CLIENT_TRUST_CONFIG_FILE)),
        )
}

/// Builds the documents from the live state on each request: microseconds of work, and it
/// can never serve stale material.
fn document(State(state): &State<SharedState>, name: &str) -> Result<Response, ApiError> {
    let authorities = state.issuer.authorities();
    let generations: Vec<CaGeneration<'_>> = authorities
        .generations()
        .iter()
        .map(|g| CaGeneration {
            root_der: g.ca.chain().root_der(),
            intermediate_der: g.ca.chain().intermediate_der(),
            active_from: g.active_from,
        })
        .collect();
    let documents = TrustDocuments::build(&TrustInputs {
        public_url: &state.public_url,
        certificate_authorities: &generations,
        artifact_log_spki: state.artifacts.key().spki_der(),
        issuance_log_spki: state.issuance.key().spki_der(),
        rekor_v2_log_spki: Some(state.rekor_v2.key().spki_der()),
        oidc_issuer: state.dev_issuer.as_ref().map(|dev| dev.issuer_url()),
        timestamp_authority: Some(state.tsa.chain()),
    })
    // The chain was parsed and checked at start-up, so this cannot fail in practice; if it
    // ever does, clients must not get half a trust root.
    .map_err(|e| ApiError::Internal(format!("cannot build trust material: {e}")))?;
    let body = documents
        .files()
        .into_iter()
        .find(|(file, _)| *file == name)
        .map(|(_, bytes)| bytes)
        .ok_or_else(|| ApiError::NotFound(format!("no trust document {name}")))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
