//! The built-in development OIDC issuer's HTTP face (`mayfly serve --dev-issuer`), mounted under
//! `/dev-oidc` only when enabled.
//!
//! `GET /dev-oidc/token?audience=…` answers `{"value": "<jwt>"}`, the shape of GitHub Actions'
//! `ACTIONS_ID_TOKEN_REQUEST_URL`, so sigstore-js and npm can be pointed at it unchanged.
//! `POST /dev-oidc/token` takes a JSON object of claims that override the GitHub-shaped
//! defaults (any claim, including `iss`, `aud` and `exp`, for negative tests).

use super::{ApiError, SharedState};
use crate::identity::dev_issuer::DevIssuer;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

pub(super) fn router() -> Router<SharedState> {
    Router::new()
        .route(
            "/dev-oidc/.well-known/openid-configuration",
            get(async |State(state): State<SharedState>| {
                dev(&state).map(|dev| Json(dev.discovery_document()))
            }),
        )
        .route(
            "/dev-oidc/jwks",
            get(async |State(state): State<SharedState>| {
                dev(&state).map(|dev| Json(json!(dev.jwks())))
            }),
        )
        .route(
            "/dev-oidc/token",
            get(token_for_audience).post(token_with_claims),
        )
}

fn dev(state: &SharedState) -> Result<&Arc<DevIssuer>, ApiError> {
    state
        .dev_issuer
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("the dev issuer is not enabled".into()))
}

#[derive(Deserialize)]
struct AudienceQuery {
    audience: Option<String>,
}

async fn token_for_audience(
    State(state): State<SharedState>,
    Query(query): Query<AudienceQuery>,
) -> Result<Json<Value>, ApiError> {
    let mut overrides = Map::new();
    if let Some(audience) = query.audience {
        overrides.insert("aud".into(), Value::String(audience));
    }
    mint(dev(&state)?, &overrides)
}

async fn token_with_claims(
    State(state): State<SharedState>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let overrides = if body.is_empty() {
        Map::new()
    } else {
        serde_json::from_slice::<Map<String, Value>>(&body).map_err(|e| {
            ApiError::BadRequest(format!("the body must be a JSON object of claims: {e}"))
        })?
    };
    mint(dev(&state)?, &overrides)
}

fn mint(dev: &DevIssuer, overrides: &Map<String, Value>) -> Result<Json<Value>, ApiError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let claims = dev.github_actions_claims(now, overrides);
    let token = dev
        .mint(&claims)
        .map_err(|e| ApiError::BadRequest(format!("cannot mint a token for these claims: {e}")))?;
    Ok(Json(json!({ "value": token })))
}
