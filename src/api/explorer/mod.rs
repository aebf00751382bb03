//! The read-only web explorer: server-rendered HTML at `/`, `/search`,
//! `/certificates/{logIndex}` (issuance log) and `/entries/{logIndex}` (artifact log), with one
//! stylesheet at `/explorer.css`.
//!
//! It must work air-gapped and be safe to show hostile log content: no script, no external
//! asset, every log- or client-derived string escaped (`html.rs`), and every response carries
//! [`CSP`], which would stop an injected script or style even if an escape were missed.

mod data;
mod html;
mod pages;

use super::{ApiError, SharedState};
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Nothing but this origin's stylesheet loads; forms submit only here; no framing.
const CSP: &str = "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; \
                   frame-ancestors 'none'";
/// Results per search page.
const PAGE: &str = "50";

pub(super) fn router() -> Router<SharedState> {
    Router::new()
        .route("/", get(home))
        .route("/search", get(search))
        .route("/certificates/{index}", get(certificate))
        .route("/entries/{index}", get(entry))
        .route("/explorer.css", get(stylesheet))
}

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn page(status: StatusCode, body: String) -> Response {
    respond(status, "text/html; charset=utf-8", body)
}

/// An error as a page: the message of a bad request or a missing entry, and for a server
/// failure only that it happened (the cause goes to the server log).
fn failure(error: ApiError) -> Response {
    match error {
        ApiError::BadRequest(message) => page(
            StatusCode::BAD_REQUEST,
            pages::error("Bad request", &message),
        ),
        ApiError::NotFound(message) => {
            page(StatusCode::NOT_FOUND, pages::error("Not found", &message))
        }
        other => {
            tracing::error!(error = %other, "explorer page failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                pages::error(
                    "Server error",
                    "the page could not be built; see the server log",
                ),
            )
        }
    }
}

async fn stylesheet() -> Response {
    respond(StatusCode::OK, "text/css; charset=utf-8", pages::CSS.into())
}

async fn home(State(state): State<SharedState>) -> Response {
    let instance = data::instance(&state);
    match data::recent(&state).await {
        Ok(recent) => page(StatusCode::OK, pages::home(&instance, &recent)),
        Err(e) => failure(e),
    }
}

async fn search(
    State(state): State<SharedState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let Ok(Query(params)) = query else {
        return failure(ApiError::BadRequest("the query string is malformed".into()));
    };
    // The form sends every field, filled or not: an empty one is no filter.
    let params: Vec<(String, String)> = params.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    match search_results(&state, &params).await {
        Ok(page_html) => page(StatusCode::OK, page_html),
        Err(e) => failure(e),
    }
}

async fn search_results(
    state: &SharedState,
    params: &[(String, String)],
) -> Result<String, ApiError> {
    let mut query = params.to_vec();
    if !query.iter().any(|(k, _)| k == "limit") {
        query.push(("limit".into(), PAGE.into()));
    }
    let parsed = super::audit::parse_search(&query)?;
    let found = crate::index::search::certificate_page(
        &state.issuance,
        &parsed.filters,
        parsed.start,
        parsed.limit,
    )
    .await?;
    // The next-page link repeats the search without its cursor.
    let shown: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "cursor")
        .cloned()
        .collect();
    Ok(pages::search(
        &shown,
        &found.certificates,
        found.next_cursor.as_deref(),
    ))
}

fn log_index(text: &str) -> Result<u64, ApiError> {
    text.parse().map_err(|_| {
        ApiError::BadRequest(format!(
            "a log index is a non-negative integer, got {text:?}"
        ))
    })
}

async fn certificate(State(state): State<SharedState>, Path(text): Path<String>) -> Response {
    let result = async {
        let index = log_index(&text)?;
        data::certificate(&state, index)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("the issuance log has no entry {index}")))
    };
    match result.await {
        Ok(view) => page(StatusCode::OK, pages::certificate(&view)),
        Err(e) => failure(e),
    }
}

async fn entry(State(state): State<SharedState>, Path(text): Path<String>) -> Response {
    let result = async {
        let index = log_index(&text)?;
        data::artifact(&state, index)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("the artifact log has no entry {index}")))
    };
    match result.await {
        Ok(view) => page(StatusCode::OK, pages::artifact(&view)),
        Err(e) => failure(e),
    }
}
