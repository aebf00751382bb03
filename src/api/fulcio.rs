//! Fulcio's read-only API: what a client can learn about this CA before asking for a
//! certificate.

use super::SharedState;
use crate::identity::IssuerEntry;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

pub fn router() -> Router<SharedState> {
    Router::new().route("/api/v2/configuration", get(configuration))
}

/// `GET /api/v2/configuration`: every accepted issuer, in Fulcio's JSON shape. Exact issuers
/// carry `issuerUrl`, meta issuers `wildcardIssuerUrl`; all fields are present even when empty,
/// as Fulcio emits them.
async fn configuration(State(state): State<SharedState>) -> Json<Value> {
    let exact = state
        .issuers
        .issuers()
        .map(|(url, entry)| describe("issuerUrl", url, entry));
    let meta = state
        .issuers
        .meta_issuers()
        .map(|(pattern, entry)| describe("wildcardIssuerUrl", pattern, entry));
    Json(json!({ "issuers": exact.chain(meta).collect::<Vec<_>>() }))
}

fn describe(url_field: &str, url: &str, entry: &IssuerEntry) -> Value {
    json!({
        url_field: url,
        "audience": entry.client_id,
        "challengeClaim": entry.challenge_claim(),
        "spiffeTrustDomain": entry.spiffe_trust_domain.as_deref().unwrap_or(""),
        "issuerType": entry.issuer_type.as_str(),
        "subjectDomain": entry.subject_domain.as_deref().unwrap_or(""),
        "skipEmailVerification": entry.skip_email_verification,
    })
}
