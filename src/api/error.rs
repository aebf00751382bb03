//! The one place errors become HTTP responses.
//!
//! Clients get a status and a `{"code": <status>, "message": "..."}` body (the shape both
//! Fulcio and Rekor use). Internal failures are logged in full and answered with a generic
//! message: storage paths and backend errors never reach a client.

use crate::ca::issuance::CaError;
use crate::ca::subject_key::SubjectKeyError;
use crate::log::LogError;
use crate::tlog::TlogError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Fulcio(#[from] FulcioError),
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
            ApiError::Fulcio(e) => (e.status_and_code().0, e.message.clone()),
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
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // Short and fixed: the pool drains in milliseconds, so clients should come back soon.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
