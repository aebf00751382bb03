//! Fulcio's API (reference/fulcio.md §1): `POST /api/v2/signingCert`, the legacy
//! `POST /api/v1/signingCert`, the trust bundle both versions publish, and the issuer
//! configuration.
//!
//! Handlers only decode requests and encode answers: the checks and their order (token, then
//! key and proof of possession, then issuance) are [`crate::ca::pipeline::Issuer::issue`]'s.
//! Every client mistake is a 400 with Fulcio's message ([`super::error`]), and nothing is
//! written before all checks have passed.

use super::SharedState;
use super::error::{ApiError, FulcioError};
use crate::ca::issuance::CertificateAuthority;
use crate::ca::pipeline::KeyProof;
use crate::identity::IssuerEntry;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;

/// Fulcio's request cap (`maxMsgSize`, 4 MiB). Real requests are a few KiB.
pub const MAX_SIGNING_BODY: usize = 4 << 20;

pub(super) fn router() -> Router<SharedState> {
    Router::new()
        .route("/api/v2/signingCert", post(signing_cert_v2))
        .route("/api/v2/trustBundle", get(trust_bundle))
        .route("/api/v2/configuration", get(configuration))
        .route("/api/v1/signingCert", post(signing_cert_v1))
        .route("/api/v1/rootCert", get(root_cert))
}

/// The v2 request in protojson: camelCase or the proto's snake_case names, unknown fields
/// ignored. `publicKeyRequest` and `certificateSigningRequest` are a proto oneof.
#[derive(Deserialize, Default)]
#[serde(default)]
struct SigningCertRequest {
    credentials: Option<Credentials>,
    #[serde(alias = "public_key_request")]
    #[serde(rename = "publicKeyRequest")]
    public_key_request: Option<PublicKeyRequest>,
    #[serde(alias = "certificate_signing_request")]
    #[serde(rename = "certificateSigningRequest")]
    certificate_signing_request: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Credentials {
    #[serde(alias = "oidc_identity_token")]
    #[serde(rename = "oidcIdentityToken")]
    oidc_identity_token: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PublicKeyRequest {
    #[serde(alias = "public_key")]
    #[serde(rename = "publicKey")]
    public_key: PublicKey,
    #[serde(alias = "proof_of_possession")]
    #[serde(rename = "proofOfPossession")]
    proof_of_possession: String,
}

/// `algorithm` is accepted and ignored, as Fulcio infers the algorithm from the key.
#[derive(Deserialize, Default)]
#[serde(default)]
struct PublicKey {
    content: String,
}

async fn signing_cert_v2(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    client_limit(&state, peer, &headers)?;
    let request: SigningCertRequest = serde_json::from_slice(&body)
        .map_err(|e| FulcioError::invalid(format!("invalid request body: {e}")))?;
    let body_token = request
        .credentials
        .map(|c| c.oidc_identity_token)
        .unwrap_or_default();
    let token = if body_token.is_empty() {
        bearer(&headers).unwrap_or_default()
    } else {
        body_token
    };
    let proof = match (
        request.public_key_request,
        request.certificate_signing_request,
    ) {
        (Some(_), Some(_)) => {
            return Err(FulcioError::invalid(
                "give either publicKeyRequest or certificateSigningRequest, not both",
            )
            .into());
        }
        (None, Some(csr)) => KeyProof::Csr(csr),
        (key_request, None) => {
            let key_request = key_request.unwrap_or_default();
            KeyProof::Signature {
                key: Some(key_request.public_key.content.into_bytes()),
                signature: key_request.proof_of_possession,
            }
        }
    };
    let (leaf, ca) = issue(&state, &token, proof).await?;
    let [intermediate, root] = ca.chain().pems();
    Ok(Json(SigningCertResponse {
        signed_certificate_embedded_sct: EmbeddedSct {
            chain: Chain {
                certificates: [&leaf, intermediate, root],
            },
        },
    })
    .into_response())
}

/// The v2 answer, `{"signedCertificateEmbeddedSct":{"chain":{"certificates":[…]}}}`, leaf
/// first. Borrowed, so the CA's PEMs are serialised straight from the chain, not copied.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SigningCertResponse<'a> {
    signed_certificate_embedded_sct: EmbeddedSct<'a>,
}

#[derive(Serialize)]
struct EmbeddedSct<'a> {
    chain: Chain<'a>,
}

#[derive(Serialize)]
struct Chain<'a> {
    certificates: [&'a str; 3],
}

/// The legacy request: the key is base64 of PEM or DER bytes, the proof is
/// `signedEmailAddress`, and the token only comes as a Bearer header.
#[derive(Deserialize, Default)]
#[serde(default)]
struct LegacyRequest {
    #[serde(rename = "publicKey")]
    public_key: Option<LegacyKey>,
    #[serde(rename = "signedEmailAddress")]
    signed_email_address: String,
    #[serde(rename = "certificateSigningRequest")]
    certificate_signing_request: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LegacyKey {
    content: String,
}

async fn signing_cert_v1(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    client_limit(&state, peer, &headers)?;
    let request: LegacyRequest = serde_json::from_slice(&body)
        .map_err(|e| FulcioError::invalid(format!("invalid request body: {e}")))?;
    let proof = match request.certificate_signing_request {
        Some(csr) => KeyProof::Csr(csr),
        None => KeyProof::Signature {
            key: STANDARD
                .decode(request.public_key.unwrap_or_default().content)
                .ok(),
            signature: request.signed_email_address,
        },
    };
    let token = bearer(&headers).unwrap_or_default();
    let (leaf, ca) = issue(&state, &token, proof).await?;
    let [intermediate, root] = ca.chain().pems();
    Ok((
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
        [leaf.as_str(), intermediate, root].concat(),
    )
        .into_response())
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// The per-client rate limit, in Fulcio's error shape.
fn client_limit(
    state: &SharedState,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<(), FulcioError> {
    super::check_client_limit(state, peer, headers).map_err(|retry_after| {
        FulcioError::rate_limited(
            format!(
                "Too many requests from this client; retry in {} s",
                retry_after.header_secs()
            ),
            retry_after.header_secs(),
        )
    })
}

/// Issues through the CA pipeline; returns the leaf's PEM and the CA generation that signed.
async fn issue(
    state: &SharedState,
    token: &str,
    proof: KeyProof,
) -> Result<(String, Arc<CertificateAuthority>), ApiError> {
    let issued = state
        .issuer
        .issue(token, proof)
        .await
        .map_err(FulcioError::from_issue)?;
    Ok((issued.certificate.leaf_pem, issued.ca))
}

/// `GET /api/v2/trustBundle`: one chain per CA generation, oldest first, issuer first, no
/// leaf (Fulcio lists every chain it has issued under).
async fn trust_bundle(State(state): State<SharedState>) -> Json<serde_json::Value> {
    let chains: Vec<_> = state
        .issuer
        .authorities()
        .generations()
        .iter()
        .map(|g| json!({ "certificates": g.ca.chain().pems() }))
        .collect();
    Json(json!({ "chains": chains }))
}

/// `GET /api/v1/rootCert`: the chain of the CA signing now, issuer first, concatenated.
async fn root_cert(State(state): State<SharedState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
        state.issuer.authorities().current().chain().pems().concat(),
    )
}

/// `GET /api/v2/configuration`: every accepted issuer, in Fulcio's JSON shape. Exact issuers
/// carry `issuerUrl`, meta issuers `wildcardIssuerUrl`; all fields are present even when empty,
/// as Fulcio emits them.
async fn configuration(State(state): State<SharedState>) -> Json<Value> {
    let settings = state.issuer.settings();
    let exact = settings
        .issuers
        .issuers()
        .map(|(url, entry)| describe("issuerUrl", url, entry));
    let meta = settings
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
