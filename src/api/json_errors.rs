//! Every error under `/api/` is JSON, whoever produced it: axum's extractors (413 for a body
//! over the limit), the router (404 for an unknown path, 405 for a known path with the wrong
//! method) and this layer's own check of the URI length (414). Handlers' errors already are
//! (see [`super::error`]); this rewrites only responses that are not JSON yet.
//!
//! The shape is the one the rest of the API uses: `{"code", "message"}`, where `code` is the
//! gRPC code on Fulcio's paths (as grpc-gateway writes it) and the HTTP status elsewhere.

use super::MAX_BODY_BYTES;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Longest request target accepted, in bytes. No API takes more than a UUID or a few query
/// parameters; hyper itself refuses targets over 64 KiB before a request reaches Mayfly, with
/// an empty 414 this layer never sees.
pub(super) const MAX_URI_BYTES: usize = 8 * 1024;

pub(super) async fn json_errors(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let api = path.starts_with("/api/");
    if api && request.uri().to_string().len() > MAX_URI_BYTES {
        return error(
            &path,
            StatusCode::URI_TOO_LONG,
            format!("the request URI is longer than {MAX_URI_BYTES} bytes"),
        );
    }
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !api || is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            format!("the request body is larger than the limit of {MAX_BODY_BYTES} bytes")
        }
        StatusCode::METHOD_NOT_ALLOWED => {
            let allowed = response
                .headers()
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            format!("{path} does not take this method; it takes {allowed}")
        }
        StatusCode::NOT_FOUND => format!("{path} does not exist"),
        other => other
            .canonical_reason()
            .unwrap_or("request failed")
            .to_owned(),
    };
    let mut rewritten = error(&path, status, message);
    if let Some(allow) = response.headers().get(header::ALLOW) {
        rewritten.headers_mut().insert(header::ALLOW, allow.clone());
    }
    rewritten
}

fn error(path: &str, status: StatusCode, message: String) -> Response {
    let body = match grpc_code(path, status) {
        Some(code) => serde_json::json!({"code": code, "message": message, "details": []}),
        None => serde_json::json!({"code": status.as_u16(), "message": message}),
    };
    let mut response = (status, Body::from(body.to_string())).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Fulcio's API answers in `google.rpc.Status` with gRPC codes; Rekor's with HTTP statuses.
fn grpc_code(path: &str, status: StatusCode) -> Option<u16> {
    let fulcio = path.starts_with("/api/v2/")
        || path.starts_with("/api/v1/signingCert")
        || path.starts_with("/api/v1/rootCert");
    if !fulcio {
        return None;
    }
    Some(match status {
        StatusCode::NOT_FOUND => 5,
        StatusCode::METHOD_NOT_ALLOWED => 12,
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::URI_TOO_LONG => 8,
        s if s.is_server_error() => 13,
        _ => 3,
    })
}
