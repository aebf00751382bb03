//! The RFC 3161 timestamp authority, on the sigstore timestamp-authority API:
//!
//! - `POST /api/v1/timestamp`: a DER TimeStampReq (`application/timestamp-query`) answered with
//!   a DER TimeStampResp (`application/timestamp-reply`), or the JSON form
//!   `{artifactHash, hashAlgorithm, nonce, certificates, tsaPolicyOID}` (`application/json`)
//!   answered the same way. A malformed query is a 400 with the reason; nothing is signed.
//! - `GET /api/v1/timestamp/certchain`: the PEM chain, signing certificate first.
//!
//! Signing runs inline on the async worker: one P-256 signature (tens of microseconds) costs
//! less than a hop to another pool (see BENCHMARKS.md, "Timestamps").

use super::{ApiError, SharedState};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mayfly_spec::tsp::{DigestAlgorithm, TimeStampRequest, parse_request};
use serde::Deserialize;

/// Largest query accepted: a DER request is under 200 bytes, the JSON form under 300.
pub(super) const MAX_QUERY_BYTES: usize = 16 * 1024;
const QUERY: &str = "application/timestamp-query";
const REPLY: &str = "application/timestamp-reply";

pub(super) fn router() -> Router<SharedState> {
    Router::new()
        .route(
            "/api/v1/timestamp",
            post(timestamp).layer(DefaultBodyLimit::max(MAX_QUERY_BYTES)),
        )
        .route("/api/v1/timestamp/certchain", get(certchain))
}

async fn timestamp(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    let request = match content_type {
        QUERY => parse_request(&body).map_err(crate::tsa::TsaError::from)?,
        "application/json" => json_request(&body)?,
        other => {
            return Err(ApiError::BadRequest(format!(
                "Content-Type must be {QUERY} (a DER TimeStampReq) or application/json, not {other:?}"
            )));
        }
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let reply = state.tsa.stamp_request(&request, now)?;
    Ok(([(header::CONTENT_TYPE, REPLY)], reply).into_response())
}

async fn certchain(State(state): State<SharedState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
        state.tsa.chain_pem(),
    )
        .into_response()
}

/// The sigstore TSA's JSON request.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsonRequest {
    /// Base64 of the digest.
    artifact_hash: String,
    /// `sha256`, `sha384` or `sha512`.
    hash_algorithm: String,
    #[serde(default)]
    nonce: Option<u64>,
    #[serde(default)]
    certificates: bool,
    /// Dotted policy OID; must be this TSA's.
    #[serde(default, rename = "tsaPolicyOID")]
    tsa_policy_oid: Option<String>,
}

fn json_request(body: &[u8]) -> Result<TimeStampRequest, ApiError> {
    let bad = |m: String| ApiError::BadRequest(format!("invalid timestamp request: {m}"));
    let json: JsonRequest = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    let imprint_algorithm = match json.hash_algorithm.to_ascii_lowercase().as_str() {
        "sha256" => DigestAlgorithm::Sha256,
        "sha384" => DigestAlgorithm::Sha384,
        "sha512" => DigestAlgorithm::Sha512,
        other => {
            return Err(bad(format!(
                "unsupported hashAlgorithm {other:?} (use sha256, sha384 or sha512)"
            )));
        }
    };
    let hashed_message = STANDARD
        .decode(&json.artifact_hash)
        .map_err(|_| bad("artifactHash is not base64".into()))?;
    if hashed_message.len() != imprint_algorithm.output_len() {
        return Err(bad(format!(
            "artifactHash is {} bytes; {:?} digests are {}",
            hashed_message.len(),
            imprint_algorithm,
            imprint_algorithm.output_len()
        )));
    }
    if let Some(policy) = &json.tsa_policy_oid
        && policy != crate::tsa::POLICY
    {
        return Err(bad(format!(
            "unsupported tsaPolicyOID {policy}; this TSA issues under {}",
            crate::tsa::POLICY
        )));
    }
    Ok(TimeStampRequest {
        imprint_algorithm,
        hashed_message,
        policy: None,
        // Minimal non-negative INTEGER content octets, as a DER request would carry.
        nonce: json.nonce.map(|n| {
            let bytes = n.to_be_bytes();
            let start = bytes.iter().position(|b| *b != 0).unwrap_or(7);
            let mut content = Vec::with_capacity(9);
            if bytes[start] & 0x80 != 0 {
                content.push(0);
            }
            content.extend_from_slice(&bytes[start..]);
            content
        }),
        cert_req: json.certificates,
    })
}
