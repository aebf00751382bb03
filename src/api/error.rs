//! The one place errors become HTTP responses, and the only place that knows Fulcio's and
//! Rekor's wire messages.
//!
//! Every failure is one of three kinds, and clients can tell them apart:
//! - **rejected input**: 4xx with a message a user can act on (the request wrote nothing);
//! - **overload**: 503 with `Retry-After` (nothing was logged; retrying is safe);
//! - **internal fault**: 500 with a generic message and an error id. The id is logged with the
//!   full cause, so an operator can find what a user saw; the cause never reaches the client.
//!
//! Bodies are `{"code", "message"}`: Fulcio's `google.rpc.Status` (gRPC code, plus `details`)
//! for the Fulcio API, the HTTP status for everything else, as Rekor does.

use crate::ca::issuance::CaError;
use crate::ca::pipeline::IssueError;
use crate::log::{Fault, LogError};
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mayfly_spec::subject_key::SubjectKeyError;
use mayfly_spec::tlog::TlogError;

/// Fulcio's fixed client messages (its `pkg/server/error.go`).
const TOKEN_INVALID: &str = "There was an error processing the identity token";
const KEY_UNPARSEABLE: &str = "The public key supplied in the request could not be parsed";
const KEY_INSECURE: &str = "The public key supplied in the request is insecure";
const CSR_UNPARSEABLE: &str = "The certificate signing request could not be parsed";
const SIGNATURE_INVALID: &str = "The signature supplied in the request could not be verified";
const CT_LOG_FAILED: &str = "Error entering certificate in CTL";
const CA_FAILED: &str = "error communicating with CA backend";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// A server-side failure; the cause is logged with an error id, the client gets the id.
    #[error("{0}")]
    Internal(String),
    /// 429: over a rate limit; back in `retry_after` seconds.
    #[error("{message}")]
    RateLimited { message: String, retry_after: u64 },
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Fulcio(#[from] FulcioError),
    #[error(transparent)]
    Rekor(#[from] RekorApiError),
    #[error(transparent)]
    RekorV2(#[from] RekorV2Error),
}

/// A failure of the Rekor v2 API, answered as rekor-tiles' grpc-gateway does: a
/// `google.rpc.Status` body `{"code": <gRPC code>, "message", "details": []}`.
#[derive(Debug, thiserror::Error)]
pub enum RekorV2Error {
    /// 400 (`InvalidArgument`): the request is malformed or does not verify. Nothing was
    /// appended.
    #[error("invalid entry: {0}")]
    Invalid(#[from] mayfly_spec::rekor::RekorError),
    /// 409 (`AlreadyExists`) with `x-log-index: <index>`: the entry is already logged there.
    #[error("an equivalent entry already exists in the transparency log at index {index}")]
    Conflict { index: u64 },
    /// The log's own failure, with the status it has on every API (400, 503 or 500).
    #[error(transparent)]
    Log(LogError),
}

/// A failure of the Rekor v1 API with Rekor's statuses; the body is `{"code": <HTTP status>,
/// "message"}`.
#[derive(Debug, thiserror::Error)]
pub enum RekorApiError {
    /// 400: the proposed entry is malformed or does not verify. Nothing was appended.
    #[error("error processing entry: {0}")]
    Invalid(#[from] mayfly_spec::rekor::RekorError),
    /// 400: a malformed query parameter or search request.
    #[error("{0}")]
    BadQuery(String),
    /// 409: the entry is already logged; `location` is its path.
    #[error("an equivalent entry already exists in the transparency log with UUID {uuid}")]
    Conflict { uuid: String, location: String },
    /// 422: a search request that asks for too much.
    #[error("{0}")]
    Unprocessable(String),
    /// 404: no such entry.
    #[error("entry not found")]
    NotFound,
    /// 404: index 0 of a log created with a genesis entry, which is not a signature.
    #[error(
        "entry 0 is this log's genesis entry, not a signature: client entries start at index 1 \
         (the entry is in the log's tiles for monitors)"
    )]
    Genesis,
}

/// A failure of Fulcio's API, answered as grpc-gateway does: a `google.rpc.Status` body whose
/// `code` is the gRPC code (3, 13 or 14), not the HTTP status.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct FulcioError {
    kind: FulcioKind,
    /// What the client sees.
    message: String,
    /// What only the server log sees (the cause behind a fixed 500 message).
    cause: Option<String>,
}

/// The gRPC statuses Fulcio answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FulcioKind {
    InvalidArgument,
    PermissionDenied,
    /// Carries the seconds for `Retry-After`.
    ResourceExhausted(u64),
    Internal,
    Unavailable,
}

impl FulcioError {
    /// A 400 (`InvalidArgument`): the client's request is wrong and can be fixed.
    pub fn invalid(message: impl Into<String>) -> Self {
        FulcioError {
            kind: FulcioKind::InvalidArgument,
            message: message.into(),
            cause: None,
        }
    }

    /// A 429 (`ResourceExhausted`): over a rate limit, back in `retry_after` seconds.
    pub fn rate_limited(message: impl Into<String>, retry_after: u64) -> Self {
        FulcioError {
            kind: FulcioKind::ResourceExhausted(retry_after),
            message: message.into(),
            cause: None,
        }
    }

    /// A 500 (`Internal`) with one of Fulcio's fixed messages; `cause` is logged only.
    fn internal(message: &str, cause: impl ToString) -> Self {
        FulcioError {
            kind: FulcioKind::Internal,
            message: message.to_owned(),
            cause: Some(cause.to_string()),
        }
    }

    pub fn from_issue(e: IssueError) -> Self {
        match e {
            IssueError::Token(e) => Self::invalid(format!("{TOKEN_INVALID}: {e}")),
            IssueError::Principal(e) => Self::invalid(format!("{TOKEN_INVALID}: {e}")),
            IssueError::San(e) => Self::invalid(format!("{TOKEN_INVALID}: {e}")),
            IssueError::KeyEncoding => Self::invalid(KEY_UNPARSEABLE),
            IssueError::ProofEncoding => Self::invalid(format!(
                "{SIGNATURE_INVALID}: the proof of possession is not base64"
            )),
            IssueError::CsrEncoding => Self::invalid(CSR_UNPARSEABLE),
            IssueError::Key(e) => Self::invalid(key_message(&e)),
            e @ IssueError::Denied { .. } => FulcioError {
                kind: FulcioKind::PermissionDenied,
                message: format!("The identity is not allowed a certificate: {e}"),
                cause: None,
            },
            IssueError::RateLimited {
                identity,
                retry_after,
            } => Self::rate_limited(
                format!(
                    "Too many certificates requested for {identity}; retry in {} s",
                    retry_after.header_secs()
                ),
                retry_after.header_secs(),
            ),
            IssueError::Ca(e) => Self::from_ca(e),
        }
    }

    fn from_ca(e: CaError) -> Self {
        match e {
            CaError::Log(log) if log.fault() == Fault::Unavailable => FulcioError {
                kind: FulcioKind::Unavailable,
                message: log.to_string(),
                cause: None,
            },
            CaError::Log(log) => Self::internal(CT_LOG_FAILED, log),
            other => Self::internal(CA_FAILED, other),
        }
    }

    fn status_and_code(&self) -> (StatusCode, u16) {
        match self.kind {
            FulcioKind::InvalidArgument => (StatusCode::BAD_REQUEST, 3),
            FulcioKind::PermissionDenied => (StatusCode::FORBIDDEN, 7),
            FulcioKind::ResourceExhausted(_) => (StatusCode::TOO_MANY_REQUESTS, 8),
            FulcioKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, 13),
            FulcioKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, 14),
        }
    }
}

/// Fulcio's message for each way a client key can be refused.
fn key_message(e: &SubjectKeyError) -> String {
    match e {
        SubjectKeyError::Unparseable => KEY_UNPARSEABLE.to_owned(),
        SubjectKeyError::Insecure => KEY_INSECURE.to_owned(),
        SubjectKeyError::CsrUnparseable => CSR_UNPARSEABLE.to_owned(),
        SubjectKeyError::BadSignature => SIGNATURE_INVALID.to_owned(),
        SubjectKeyError::NotPermitted(what) => format!("signing algorithm not permitted: {what}"),
        SubjectKeyError::WrongHash {
            key,
            used,
            required,
        } => format!(
            "{SIGNATURE_INVALID}: it was made with {used}, but {key} keys must sign with {required}"
        ),
    }
}

/// A query the TSA does not answer is the client's to fix (400, as the sigstore TSA answers);
/// a failure to sign is ours.
impl From<crate::tsa::TsaError> for ApiError {
    fn from(e: crate::tsa::TsaError) -> Self {
        use crate::tsa::TsaError;
        match e {
            TsaError::Request(_) | TsaError::Policy { .. } => ApiError::BadRequest(e.to_string()),
            TsaError::Sign(_) | TsaError::Clock => ApiError::Internal(e.to_string()),
        }
    }
}

/// Rejected proof arithmetic on a request's parameters.
impl From<TlogError> for ApiError {
    fn from(e: TlogError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

/// A short random id tying a client's 500 to the server log line that explains it.
fn error_id() -> String {
    hex::encode(rand::random::<[u8; 6]>())
}

/// The generic 500 message, naming the id to quote.
fn internal_message(id: &str) -> String {
    format!("internal error (error id {id}); the server log has the details")
}

impl ApiError {
    /// Status and client message; internal causes are logged here under a fresh error id.
    fn status_and_message(&self) -> (StatusCode, String) {
        match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m.clone()),
            ApiError::Internal(cause) => internal(cause),
            ApiError::RateLimited { message, .. } => {
                (StatusCode::TOO_MANY_REQUESTS, message.clone())
            }
            ApiError::Fulcio(e) => {
                let (status, _) = e.status_and_code();
                match &e.cause {
                    Some(cause) => {
                        let id = error_id();
                        tracing::error!(error_id = %id, error = %e, %cause, %status, "request failed");
                        (status, format!("{} (error id {id})", e.message))
                    }
                    None => (status, e.message.clone()),
                }
            }
            ApiError::Rekor(e) => (
                match e {
                    RekorApiError::Invalid(_) | RekorApiError::BadQuery(_) => {
                        StatusCode::BAD_REQUEST
                    }
                    RekorApiError::Conflict { .. } => StatusCode::CONFLICT,
                    RekorApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
                    RekorApiError::NotFound | RekorApiError::Genesis => StatusCode::NOT_FOUND,
                },
                e.to_string(),
            ),
            ApiError::Log(e) | ApiError::RekorV2(RekorV2Error::Log(e)) => match e.fault() {
                Fault::Rejected => (StatusCode::BAD_REQUEST, e.to_string()),
                Fault::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
                Fault::Internal => internal(&error_chain(e)),
            },
            ApiError::RekorV2(e @ RekorV2Error::Invalid(_)) => {
                (StatusCode::BAD_REQUEST, e.to_string())
            }
            ApiError::RekorV2(e @ RekorV2Error::Conflict { .. }) => {
                (StatusCode::CONFLICT, e.to_string())
            }
        }
    }

    fn grpc_code(&self) -> Option<u16> {
        match self {
            ApiError::Fulcio(e) => Some(e.status_and_code().1),
            ApiError::RekorV2(e) => Some(match e {
                RekorV2Error::Invalid(_) => 3,
                RekorV2Error::Conflict { .. } => 6,
                RekorV2Error::Log(log) => match log.fault() {
                    Fault::Rejected => 3,
                    Fault::Unavailable => 14,
                    Fault::Internal => 13,
                },
            }),
            _ => None,
        }
    }
}

/// Logs `cause` under a fresh id and gives the client the generic message.
fn internal(cause: &str) -> (StatusCode, String) {
    let id = error_id();
    tracing::error!(error_id = %id, error = %cause, "request failed");
    (StatusCode::INTERNAL_SERVER_ERROR, internal_message(&id))
}

/// An error and its sources, outermost first, for the server log.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = self.status_and_message();
        let body = match self.grpc_code() {
            Some(code) => serde_json::json!({ "code": code, "message": message, "details": [] }),
            None => serde_json::json!({ "code": status.as_u16(), "message": message }),
        };
        let mut response = (status, Json(body)).into_response();
        if let ApiError::Rekor(RekorApiError::Conflict { location, .. }) = &self
            && let Ok(value) = HeaderValue::from_str(location)
        {
            response.headers_mut().insert(header::LOCATION, value);
        }
        if let ApiError::RekorV2(RekorV2Error::Conflict { index }) = &self {
            response
                .headers_mut()
                .insert("x-log-index", HeaderValue::from(*index));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // Short and fixed: the pool drains in milliseconds, so clients should come back soon.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        let retry_after = match &self {
            ApiError::RateLimited { retry_after, .. } => Some(*retry_after),
            ApiError::Fulcio(FulcioError {
                kind: FulcioKind::ResourceExhausted(seconds),
                ..
            }) => Some(*seconds),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn status_and_body(e: impl Into<ApiError>) -> (StatusCode, serde_json::Value) {
        let response = e.into().into_response();
        let status = response.status();
        let body = futures_body(response);
        (status, body)
    }

    fn futures_body(response: Response) -> serde_json::Value {
        let bytes = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(axum::body::to_bytes(response.into_body(), 1 << 20))
            .unwrap();
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)
    }

    #[test]
    fn the_three_kinds_of_failure_are_distinct() {
        let (status, body) = status_and_body(LogError::EntryTooLarge { len: 9, max: 8 });
        assert_eq!(status, 400);
        assert!(body["message"].as_str().unwrap().contains("exceeds"));

        let response = ApiError::from(LogError::PoolFull { pending: 3 }).into_response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");

        let storage = LogError::Storage(Arc::new(crate::log::storage::StoreError::Corrupt(
            "/var/lib/mayfly/secret-path".into(),
        )));
        let (status, body) = status_and_body(storage);
        assert_eq!(status, 500);
        let message = body["message"].as_str().unwrap();
        assert!(
            message.starts_with("internal error (error id "),
            "{message}"
        );
        assert!(!message.contains("secret-path"), "{message}");
    }

    #[test]
    fn batch_and_signing_faults_are_500_not_400() {
        for e in [
            LogError::Batch(TlogError::Note("signer failed".into())),
            LogError::Codec(Arc::new(TlogError::Tile("bad".into()))),
            LogError::Inconsistent("tiles".into()),
        ] {
            assert_eq!(status_and_body(e).0, 500);
        }
    }

    #[test]
    fn fulcio_texts_are_chosen_here_per_key_error() {
        for (e, want) in [
            (SubjectKeyError::Unparseable, KEY_UNPARSEABLE),
            (SubjectKeyError::Insecure, KEY_INSECURE),
            (SubjectKeyError::CsrUnparseable, CSR_UNPARSEABLE),
            (SubjectKeyError::BadSignature, SIGNATURE_INVALID),
        ] {
            let (status, body) = status_and_body(FulcioError::from_issue(IssueError::Key(e)));
            assert_eq!(
                (status, body["code"].as_u64()),
                (StatusCode::BAD_REQUEST, Some(3))
            );
            assert_eq!(body["message"], want);
        }
        let signer = CaError::Sign(crate::ca::signer::SignerError::Sign("hsm said no".into()));
        let (status, body) = status_and_body(FulcioError::from_issue(IssueError::Ca(signer)));
        assert_eq!(
            (status, body["code"].as_u64()),
            (StatusCode::INTERNAL_SERVER_ERROR, Some(13))
        );
        let message = body["message"].as_str().unwrap();
        assert!(
            message.starts_with(CA_FAILED) && message.contains("error id"),
            "{message}"
        );
        assert!(!message.contains("hsm said no"));
    }
}
