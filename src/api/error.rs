//! The one place errors become HTTP responses.
//!
//! Clients get a status and a `{"code": <status>, "message": "..."}` body (the shape both
//! Fulcio and Rekor use). Internal failures are logged in full and answered with a generic
//! message: storage paths and backend errors never reach a client.

use crate::ca::issuance::CaError;
use crate::log::LogError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mayfly_spec::subject_key::SubjectKeyError;
use mayfly_spec::tlog::TlogError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unavailable(String),
    /// A server-side failure; the cause is logged, the client gets a generic message.
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Fulcio(#[from] FulcioError),
    #[error(transparent)]
    Rekor(#[from] RekorApiError),
}

/// A failure of the Rekor v1 API with Rekor's statuses; the body is `{"code": <HTTP status>,
/// "message"}` except for a 404, which Rekor sends without a body.
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
    /// 404 with an empty body.
    #[error("entry not found")]
    NotFound,
}

/// A failure of Fulcio's API, answered as grpc-gateway does: a `google.rpc.Status` body whose
/// `code` is the gRPC code (3, 13 or 14), not the HTTP status.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct FulcioError {
    kind: FulcioKind,
    /// What the client sees.
    message: String,
    /// What only the server log sees (the backend error behind a fixed 500 message).
    cause: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FulcioKind {
    InvalidArgument,
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

    /// A 500 (`Internal`) with one of Fulcio's fixed messages; `cause` is logged only.
    pub fn internal(message: &str, cause: impl ToString) -> Self {
        FulcioError {
            kind: FulcioKind::Internal,
            message: message.to_owned(),
            cause: Some(cause.to_string()),
        }
    }

    /// Key parsing, policy and proof-of-possession failures: their `Display` is Fulcio's text.
    pub fn from_key(e: SubjectKeyError) -> Self {
        Self::invalid(e.to_string())
    }

    pub fn from_ca(e: CaError) -> Self {
        match e {
            CaError::Log(
                log @ (LogError::PoolFull { .. } | LogError::ShuttingDown | LogError::NotCommitted),
            ) => FulcioError {
                kind: FulcioKind::Unavailable,
                message: log.to_string(),
                cause: None,
            },
            CaError::Log(log) => Self::internal("Error entering certificate in CTL", log),
            other => Self::internal("error communicating with CA backend", other),
        }
    }

    fn status_and_code(&self) -> (StatusCode, u16) {
        match self.kind {
            FulcioKind::InvalidArgument => (StatusCode::BAD_REQUEST, 3),
            FulcioKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, 13),
            FulcioKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, 14),
        }
    }
}

impl From<TlogError> for ApiError {
    fn from(e: TlogError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

impl ApiError {
    fn status_and_message(&self) -> (StatusCode, String) {
        match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m.clone()),
            ApiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m.clone()),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; see the server log".into(),
            ),
            ApiError::Fulcio(e) => (e.status_and_code().0, e.message.clone()),
            ApiError::Rekor(e) => (
                match e {
                    RekorApiError::Invalid(_) | RekorApiError::BadQuery(_) => {
                        StatusCode::BAD_REQUEST
                    }
                    RekorApiError::Conflict { .. } => StatusCode::CONFLICT,
                    RekorApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
                    RekorApiError::NotFound => StatusCode::NOT_FOUND,
                },
                e.to_string(),
            ),
            ApiError::Log(e) => match e {
                LogError::PoolFull { .. } | LogError::ShuttingDown | LogError::NotCommitted => {
                    (StatusCode::SERVICE_UNAVAILABLE, e.to_string())
                }
                LogError::EntryTooLarge { .. }
                | LogError::BeyondTree { .. }
                | LogError::Invalid(_) => (StatusCode::BAD_REQUEST, e.to_string()),
                LogError::Stopped(_)
                | LogError::Missing(_)
                | LogError::KeyMismatch(_)
                | LogError::Storage(_)
                | LogError::Audit(_) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; see the server log".into(),
                ),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = self.status_and_message();
        if let ApiError::Rekor(RekorApiError::NotFound) = self {
            return status.into_response();
        }
        let body = match &self {
            ApiError::Fulcio(e) => {
                if let Some(cause) = &e.cause {
                    tracing::error!(error = %e, %cause, %status, "request failed");
                }
                serde_json::json!({ "code": e.status_and_code().1, "message": message, "details": [] })
            }
            _ => {
                if status.is_server_error() {
                    tracing::error!(error = %self, %status, "request failed");
                }
                serde_json::json!({ "code": status.as_u16(), "message": message })
            }
        };
        let mut response = (status, Json(body)).into_response();
        if let ApiError::Rekor(RekorApiError::Conflict { location, .. }) = &self
            && let Ok(value) = HeaderValue::from_str(location)
        {
            response.headers_mut().insert(header::LOCATION, value);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // Short and fixed: the pool drains in milliseconds, so clients should come back soon.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
