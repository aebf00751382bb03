//! The one place errors become HTTP responses.
//!
//! Clients get a status and a `{"code": <status>, "message": "..."}` body (the shape both
//! Fulcio and Rekor use). Internal failures are logged in full and answered with a generic
//! message: storage paths and backend errors never reach a client.

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
        if status.is_server_error() {
            tracing::error!(error = %self, %status, "request failed");
        }
        let body = serde_json::json!({ "code": status.as_u16(), "message": message });
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
