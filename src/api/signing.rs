//! Fulcio's certificate API: `POST /api/v2/signingCert`, the legacy `POST /api/v1/signingCert`,
//! and the trust bundle both versions publish (reference/fulcio.md §1).
//!
//! Order of checks, as Fulcio: the token (issuer, signature, claims, principal), then the key
//! (parse, policy, proof of possession), then issuance. Every client mistake is a 400 with
//! Fulcio's message, and nothing is written before all checks have passed.

use super::SharedState;
use super::error::{ApiError, FulcioError};
use crate::identity::principal::{Principal, principal};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mayfly_spec::subject_key::SubjectKey;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Fulcio's request cap (`maxMsgSize`, 4 MiB). Real requests are a few KiB.
pub const MAX_SIGNING_BODY: usize = 4 << 20;

pub fn router() -> Router<SharedState> {
    Router::new()
        .route("/api/v2/signingCert", post(signing_cert_v2))
        .route("/api/v2/trustBundle", get(trust_bundle))
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

/// How the client proves it holds the key, still undecoded: Fulcio checks the token first, so
/// a bad key or signature encoding is only reported once the token has passed.
enum KeyProof {
    /// A key (PEM or DER; `None` if its transport encoding was already broken) and the base64
    /// signature over the challenge claim.
    Signature {
        key: Option<Vec<u8>>,
        signature: String,
    },
    /// Base64 of a PEM (or DER) PKCS#10 request, self-signed.
    Csr(String),
}

async fn signing_cert_v2(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
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
    let leaf = issue(&state, &token, proof).await?;
    let [intermediate, root] = state.ca.chain().pems();
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
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
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
    let leaf = issue(&state, &token, proof).await?;
    let [intermediate, root] = state.ca.chain().pems();
    Ok((
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
        [leaf.as_str(), intermediate, root].concat(),
    )
        .into_response())
}

const KEY_UNPARSEABLE: &str = "The public key supplied in the request could not be parsed";
const CSR_UNPARSEABLE: &str = "The certificate signing request could not be parsed";
const SIGNATURE_INVALID: &str = "The signature supplied in the request could not be verified";
const TOKEN_INVALID: &str = "There was an error processing the identity token";

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// Authenticates, checks the key and issues; returns the leaf's PEM.
async fn issue(state: &SharedState, token: &str, proof: KeyProof) -> Result<String, ApiError> {
    let principal = authenticate(state, token).await?;
    let key = match proof {
        KeyProof::Signature { key, signature } => {
            let key = key.ok_or_else(|| FulcioError::invalid(KEY_UNPARSEABLE))?;
            let key = SubjectKey::from_pem_or_der(&key).map_err(FulcioError::from_key)?;
            let signature = STANDARD
                .decode(signature)
                .map_err(|_| FulcioError::invalid(SIGNATURE_INVALID))?;
            key.verify_possession(principal.challenge.as_bytes(), &signature)
                .map_err(FulcioError::from_key)?;
            key
        }
        KeyProof::Csr(csr) => {
            let csr = STANDARD
                .decode(csr)
                .map_err(|_| FulcioError::invalid(CSR_UNPARSEABLE))?;
            SubjectKey::from_csr(&csr).map_err(FulcioError::from_key)?
        }
    };
    let issued = state
        .ca
        .issue(&state.issuance, &principal, &key)
        .await
        .map_err(FulcioError::from_ca)?;
    tracing::info!(
        log_index = issued.log_index,
        issuer = %principal.issuer,
        subject = %principal.subject,
        "issued certificate"
    );
    Ok(issued.leaf_pem)
}

async fn authenticate(state: &SharedState, token: &str) -> Result<Principal, ApiError> {
    let verified = state.tokens.verify(token).await.map_err(|e| {
        tracing::warn!(reason = %e, "identity token rejected");
        FulcioError::invalid(format!("{TOKEN_INVALID}: {e}"))
    })?;
    Ok(principal(&verified).map_err(|e| {
        tracing::warn!(reason = %e, issuer = %verified.issuer.issuer_url, "identity rejected");
        FulcioError::invalid(format!("{TOKEN_INVALID}: {e}"))
    })?)
}

/// `GET /api/v2/trustBundle`: one chain, issuer first, no leaf.
async fn trust_bundle(State(state): State<SharedState>) -> Json<serde_json::Value> {
    Json(json!({ "chains": [ { "certificates": state.ca.chain().pems() } ] }))
}

/// `GET /api/v1/rootCert`: the trust bundle's PEMs, concatenated.
async fn root_cert(State(state): State<SharedState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
        state.ca.chain().pems().concat(),
    )
}
