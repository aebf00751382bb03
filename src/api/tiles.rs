//! C2SP tlog-tiles read paths for every log, under `/logs/issuance/`, `/logs/artifacts/` and
//! `/logs/rekor-v2/`.
//!
//! Everything but `checkpoint` is immutable once it exists (a `.p/W` tile's content is fixed by
//! its width), so it is served with a year-long `immutable` cache lifetime.

use super::{ApiError, SharedState};
use crate::log::Log;
use crate::storage::Store;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use mayfly_spec::tlog::tile::TilePath;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub(super) fn router() -> Router<SharedState> {
    Router::new()
        .route("/logs/{log}/checkpoint", get(checkpoint))
        .route("/logs/{log}/key.pem", get(key_pem))
        .route("/logs/{log}/tile/{*path}", get(tile))
}

fn select(state: &SharedState, name: &str) -> Result<Log<Store>, ApiError> {
    match name {
        "issuance" => Ok(state.issuance.clone()),
        "artifacts" => Ok(state.artifacts.clone()),
        "rekor-v2" => Ok(state.rekor_v2.clone()),
        other => Err(ApiError::NotFound(format!(
            "no log named {other:?}; the logs are \"issuance\", \"artifacts\" and \"rekor-v2\""
        ))),
    }
}

async fn checkpoint(
    State(state): State<SharedState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let log = select(&state, &name)?;
    let note = log.checkpoint().note.clone();
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        note,
    )
        .into_response())
}

async fn key_pem(
    State(state): State<SharedState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let log = select(&state, &name)?;
    Ok((
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        log.key().public_pem(),
    )
        .into_response())
}

async fn tile(
    State(state): State<SharedState>,
    Path((name, path)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let log = select(&state, &name)?;
    let parsed = TilePath::parse(&format!("tile/{path}"))?;
    let data = match parsed {
        TilePath::Hash { id, width } => log.hash_tile(id, width).await?,
        TilePath::Entries { index, width } => log.entry_bundle(index, width).await?,
    };
    let data = data.ok_or_else(|| ApiError::NotFound(format!("{parsed} does not exist (yet)")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, IMMUTABLE),
        ],
        data,
    )
        .into_response())
}
